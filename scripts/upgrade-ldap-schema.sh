#!/bin/bash
# Bring the pbs-ve schema of an existing OpenLDAP directory (cn=config) up to schema/pbs-ve.ldif.
#
#   upgrade-ldap-schema.sh [-H URI] [--schema FILE] [--dry-run]
#
# Run as root on the LDAP server (default URI ldapi:///, SASL EXTERNAL: root's peer credentials manage
# cn=config on Debian). Finds the loaded pbs-ve schema entry (cn={N}pbs-ve,cn=schema,cn=config) and
# replaces its olcAttributeTypes and olcObjectClasses with the file's, in one modify: slapd checks the
# result against the entries in use, so definitions only ever grow (new attributes, new MAY), which every
# pbs-ve release keeps to. Idempotent. Without a loaded pbs-ve schema it says how to add the file.
# --dry-run prints the LDIF instead of applying it. Changes: the pbs-ve schema entry in cn=config only.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
URI=ldapi:///
SCHEMA=$HERE/../schema/pbs-ve.ldif
DRY=0
while (($#)); do
  case $1 in
    -H) URI=${2:?-H needs a URI}; shift 2 ;;
    --schema) SCHEMA=${2:?--schema needs a file}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    *) echo "usage: upgrade-ldap-schema.sh [-H URI] [--schema FILE] [--dry-run]" >&2; exit 2 ;;
  esac
done
[[ -r $SCHEMA ]] || { echo "upgrade-ldap-schema: schema file $SCHEMA not readable" >&2; exit 2; }

# the entry's DN as slapd numbered it, e.g. cn={2}pbs-ve,cn=schema,cn=config (LDIF may fold long lines)
DN=$(ldapsearch -LLL -Q -Y EXTERNAL -H "$URI" -b cn=schema,cn=config -s one '(cn=*pbs-ve)' dn \
  | sed -n 's/^dn: //p' | head -n1) || { echo "upgrade-ldap-schema: cannot read cn=schema,cn=config at $URI" >&2; exit 1; }
if [[ -z $DN ]]; then
  echo "upgrade-ldap-schema: no pbs-ve schema loaded at $URI; add it with: ldapadd -Y EXTERNAL -H $URI -f $SCHEMA" >&2
  exit 3
fi

# unfold the file's continuation lines, keep the definitions, emit one modify
build_ldif() {
  echo "dn: $DN"
  echo "changetype: modify"
  awk '
    /^ / { line = line substr($0, 2); next }
    { if (line != "") print line; line = $0 }
    END { if (line != "") print line }
  ' "$SCHEMA" | awk '
    /^olcAttributeTypes:/ { at[++na] = $0 }
    /^olcObjectClasses:/ { oc[++no] = $0 }
    END {
      print "replace: olcAttributeTypes"; for (i = 1; i <= na; i++) print at[i]; print "-"
      print "replace: olcObjectClasses"; for (i = 1; i <= no; i++) print oc[i]; print "-"
    }'
}

# NAMEs of a set of definitions, one per line, sorted
names() { sed -n "s/^olc\(AttributeTypes\|ObjectClasses\):.* NAME '\([^']*\)'.*/\2/p" | sort -u; }
# a downgrade would drop definitions entries may still use: refused (slapd does not check every entry)
loaded=$(ldapsearch -LLL -Q -o ldif-wrap=no -Y EXTERNAL -H "$URI" -b "$DN" -s base olcAttributeTypes olcObjectClasses \
  | sed 's/^\(olc[A-Za-z]*\): {[0-9]*}/\1: /' | names)
wanted=$(build_ldif | names)
missing=$(comm -23 <(echo "$loaded") <(echo "$wanted") | tr '\n' ' ')
if [[ -n ${missing// /} ]]; then
  echo "upgrade-ldap-schema: $SCHEMA lacks definitions the directory has ($missing): not a newer pbs-ve schema; refused" >&2
  exit 4
fi

if ((DRY)); then build_ldif; exit 0; fi
build_ldif | ldapmodify -Q -Y EXTERNAL -H "$URI" >/dev/null
echo "upgrade-ldap-schema: $DN now holds the definitions of $SCHEMA"
