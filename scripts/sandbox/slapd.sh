#!/bin/bash
# pbs-ve sandbox directory: a private, throw-away OpenLDAP slapd on loopback with the pbs-ve schema.
#
#   LDAP_DIR=/tmp/ldap-x scripts/sandbox/slapd.sh start     prints KEY=VALUE lines on stdout
#   LDAP_DIR=/tmp/ldap-x scripts/sandbox/slapd.sh stop      SIGTERM, wait, wipe LDAP_DIR (KEEP=1 keeps it)
#
# Nothing under /etc/ldap is used or changed (only the packaged core/cosine schema LDIFs are read):
# cn=config is generated into $LDAP_DIR/slapd.d with `slapadd -n0`, the mdb database lives in
# $LDAP_DIR/data, slapd runs in the foreground of its own session (setsid) so it outlives this script.
#
# Environment:
#   LDAP_DIR              instance directory                          required
#   LDAP_PORT             TCP port on 127.0.0.1                       default 38910
#   LDAP_SUFFIX           directory suffix                            default dc=pbs-ve,dc=test
#   LDAP_WRITER_PASSWORD  password of cn=ve-monitor,ou=services,<suffix>   default random
#   LDAP_ROOT_PASSWORD    password of cn=admin,<suffix> (rootdn)      default random
#   LDAP_REUSE            1 = restart an instance kept by `stop` with KEEP=1 (same data, same passwords)
#   SLAPD_LOGLEVEL        slapd -d level, log in $LDAP_DIR/slapd.log  default none (critical only)
#   PBSVE_SCHEMA          schema LDIF                                 default <repo>/schema/pbs-ve.ldif
#
# Access (olcAccess of the suffix database):
#   - cn=ve-monitor,ou=services,<suffix> is the ONLY non-root DN that may write ou=ves, ou=hosts and
#     ou=images; cn=admin,<suffix> (rootdn) and root over ldapi (peercred) bypass/manage everything.
#   - everyone else, anonymous included, may READ the inventory. That is convenient for a sandbox and
#     for `ve list`; a site would tighten it (e.g. "by users read by anonymous none", or restrict
#     pbsveIp/pbsveMac to operators) and would use TLS (ldaps:// or StartTLS) off loopback.
#   - userPassword is never readable; anonymous may only use it to bind.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ACTION=${1:-}
LDAP_DIR=${LDAP_DIR:?set LDAP_DIR to an instance directory}
LDAP_DIR=${LDAP_DIR%/}
PEERCRED='gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth'

# "alive" = exists and is not a zombie (PID 1 reaps orphans lazily here, a zombie still answers kill -0)
alive() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
random_password() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }
# the pid we started, only if it still is the slapd of this LDAP_DIR (pid files can be stale)
our_pid() {
  local pid=""
  [[ -s $LDAP_DIR/slapd.launcher.pid ]] && pid=$(cat "$LDAP_DIR/slapd.launcher.pid")
  [[ -n $pid ]] && alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-F $LDAP_DIR/slapd.d" \
    && echo "$pid"
  return 0
}

hash_password() {
  # through a file, not argv, so the secret does not show in ps
  local file="$LDAP_DIR/.pw.$$"
  (umask 077; printf '%s' "$1" > "$file")
  slappasswd -T "$file"
  rm -f "$file"
}

write_config() {
  local root_hash=$1 dn_suffix=$LDAP_SUFFIX writer_dn=$2 root_dn=$3
  cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $LDAP_DIR/slapd.pid
olcArgsFile: $LDAP_DIR/slapd.args
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: syncprov
olcModuleLoad: constraint

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file://$SCHEMA

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: $PEERCRED
olcAccess: {0}to * by dn.exact=$PEERCRED manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $dn_suffix
olcRootDN: $root_dn
olcRootPW: $root_hash
olcDbDirectory: $LDAP_DIR/data
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryCSN,entryUUID eq
olcDbIndex: pbsveJobId,pbsveSeq,pbsveOwner,pbsveHost,pbsveState,pbsveType eq
olcDbIndex: pbsveName eq,sub
olcDbIndex: pbsveHostName,pbsveImageName eq
olcAccess: {0}to attrs=userPassword by dn.exact="$PEERCRED" manage by anonymous auth by * none
olcAccess: {1}to dn.subtree="ou=ves,$dn_suffix" by dn.exact="$PEERCRED" manage by dn.exact="$writer_dn" write by * read
olcAccess: {2}to dn.subtree="ou=hosts,$dn_suffix" by dn.exact="$PEERCRED" manage by dn.exact="$writer_dn" write by * read
olcAccess: {3}to dn.subtree="ou=images,$dn_suffix" by dn.exact="$PEERCRED" manage by dn.exact="$writer_dn" write by * read
olcAccess: {4}to * by dn.exact="$PEERCRED" manage by * read
olcLimits: {0}dn.exact="$root_dn" size=unlimited time=unlimited
olcLimits: {1}dn.exact="$writer_dn" size=unlimited time=unlimited

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 5
olcSpSessionLog: 10000

# enumerations the schema cannot express
dn: olcOverlay={1}constraint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcConstraintConfig
olcOverlay: {1}constraint
olcConstraintAttribute: pbsveType regex "^(kvm|lxc)$"
olcConstraintAttribute: pbsveHypervisorType regex "^(kvm|lxc)$"
olcConstraintAttribute: pbsveOldState regex "^(pending|starting|running|stopping|stopped|suspended|migrating|destroyed|lost|failed|unknown)$"
olcConstraintAttribute: pbsveState regex "^(pending|starting|running|stopping|stopped|suspended|migrating|destroyed|lost|failed|unknown|up|down|drain|offline)$"
olcConstraintAttribute: pbsveSource regex "^(prologue|epilogue|job-body|mom-hook|reconcile|recovery|operation)$"
EOF
}

write_base() {
  local writer_dn=$1 writer_hash=$2 dc
  dc=$(printf '%s' "$LDAP_SUFFIX" | sed -E 's/^dc=([^,]+).*/\1/')
  cat <<EOF
dn: $LDAP_SUFFIX
objectClass: dcObject
objectClass: organization
dc: $dc
o: $dc

dn: ou=ves,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: ves
description: VEs (pbsveJobId=<job id>) and their state history (pbsveSeq=<seq> children)

dn: ou=hosts,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: hosts

dn: ou=images,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: images

dn: ou=services,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: services

dn: $writer_dn
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: ve-monitor
description: the only account that writes the pbs-ve inventory
userPassword: $writer_hash
EOF
}

start() {
  LDAP_PORT=${LDAP_PORT:-38910}
  LDAP_SUFFIX=${LDAP_SUFFIX:-dc=pbs-ve,dc=test}
  SCHEMA=${PBSVE_SCHEMA:-$(cd "$HERE/../.." && pwd)/schema/pbs-ve.ldif}
  local loglevel=${SLAPD_LOGLEVEL:-none} t0 pid
  t0=$(now)
  [[ $LDAP_SUFFIX =~ ^dc=[A-Za-z0-9-]+(,dc=[A-Za-z0-9-]+)*$ ]] \
    || { echo "LDAP_SUFFIX must look like dc=a,dc=b (got $LDAP_SUFFIX)" >&2; exit 2; }
  [[ $LDAP_PORT =~ ^[0-9]+$ ]] || { echo "LDAP_PORT must be a number" >&2; exit 2; }
  [[ -r $SCHEMA ]] || { echo "schema $SCHEMA not readable" >&2; exit 2; }
  pid=$(our_pid)
  [[ -z $pid ]] || { echo "slapd already running in $LDAP_DIR (pid $pid); stop it first" >&2; exit 1; }

  local ldapi_path="$LDAP_DIR/ldapi"
  (( ${#ldapi_path} < 100 )) || { echo "LDAP_DIR too long for an ldapi socket path" >&2; exit 2; }
  local ldapi_url ldap_url="ldap://127.0.0.1:${LDAP_PORT}"
  ldapi_url="ldapi://$(printf '%s' "$ldapi_path" | sed 's|/|%2F|g')"
  local reuse=0
  if [[ ${LDAP_REUSE:-0} == 1 && -d $LDAP_DIR/slapd.d/cn=config && -s $LDAP_DIR/credentials ]]; then
    reuse=1
    # shellcheck source=/dev/null
    source "$LDAP_DIR/credentials"        # passwords and suffix of the kept instance
  fi
  local writer_dn="cn=ve-monitor,ou=services,$LDAP_SUFFIX" root_dn="cn=admin,$LDAP_SUFFIX"

  if (( reuse )); then
    rm -f "$ldapi_path"
  else
    if [[ -d $LDAP_DIR && -n $(ls -A "$LDAP_DIR") && ! -d $LDAP_DIR/slapd.d ]]; then
      echo "$LDAP_DIR is not empty and holds no slapd instance; refusing to wipe it" >&2; exit 1
    fi
    rm -rf "$LDAP_DIR"
    mkdir -p "$LDAP_DIR/slapd.d" "$LDAP_DIR/data"
    chmod 700 "$LDAP_DIR"
    WRITER_PASSWORD=${LDAP_WRITER_PASSWORD:-$(random_password)}
    ROOT_PASSWORD=${LDAP_ROOT_PASSWORD:-$(random_password)}
    (umask 077; printf 'WRITER_PASSWORD=%q\nROOT_PASSWORD=%q\nLDAP_SUFFIX=%q\n' \
      "$WRITER_PASSWORD" "$ROOT_PASSWORD" "$LDAP_SUFFIX" > "$LDAP_DIR/credentials")
    write_config "$(hash_password "$ROOT_PASSWORD")" "$writer_dn" "$root_dn" > "$LDAP_DIR/config.ldif"
    slapadd -n0 -F "$LDAP_DIR/slapd.d" -l "$LDAP_DIR/config.ldif" > "$LDAP_DIR/slapadd.log" 2>&1 \
      || { cat "$LDAP_DIR/slapadd.log" >&2; exit 1; }
    write_base "$writer_dn" "$(hash_password "$WRITER_PASSWORD")" > "$LDAP_DIR/base.ldif"
    slapadd -q -F "$LDAP_DIR/slapd.d" -b "$LDAP_SUFFIX" -l "$LDAP_DIR/base.ldif" >> "$LDAP_DIR/slapadd.log" 2>&1 \
      || { cat "$LDAP_DIR/slapadd.log" >&2; exit 1; }
  fi

  # -d keeps slapd in the foreground (no fork: $! is slapd itself, messages go to slapd.log);
  # setsid detaches it from the caller's session and process group
  setsid slapd -d "$loglevel" -F "$LDAP_DIR/slapd.d" -h "$ldap_url/ $ldapi_url" \
    < /dev/null >> "$LDAP_DIR/slapd.log" 2>&1 &
  pid=$!
  echo "$pid" > "$LDAP_DIR/slapd.launcher.pid"

  for _ in $(seq 1 200); do            # up to ~10 s
    if ! alive "$pid"; then
      echo "slapd exited during startup; log:" >&2; tail -n 30 "$LDAP_DIR/slapd.log" >&2; exit 1
    fi
    # bind as this instance's writer (a random password): another slapd on the port cannot answer that
    if ldapwhoami -x -H "$ldap_url" -D "$writer_dn" -w "$WRITER_PASSWORD" > /dev/null 2>&1; then
      echo "slapd ready in $(elapsed "$t0") s" >&2
      echo "LDAP_URL=$ldap_url"
      echo "LDAPI_URL=$ldapi_url"
      echo "BASE_DN=$LDAP_SUFFIX"
      echo "WRITER_DN=$writer_dn"
      echo "WRITER_PASSWORD=$WRITER_PASSWORD"
      echo "ROOT_DN=$root_dn"
      echo "ROOT_PASSWORD=$ROOT_PASSWORD"
      echo "LDAP_DIR=$LDAP_DIR"
      echo "SLAPD_PID=$pid"
      exit 0
    fi
    sleep 0.05
  done
  echo "slapd did not become ready in 10 s; log:" >&2; tail -n 30 "$LDAP_DIR/slapd.log" >&2
  kill -TERM "$pid" 2> /dev/null || true
  exit 1
}

stop() {
  local pid t0
  pid=$(our_pid)
  if [[ -n $pid ]]; then
    t0=$(now)
    # SIGTERM: slapd closes its listeners, finishes running operations and closes mdb cleanly
    kill -TERM "$pid"
    for _ in $(seq 1 200); do          # up to 10 s
      alive "$pid" || break
      sleep 0.05
    done
    if alive "$pid"; then
      echo "slapd $pid still alive after 10 s, sending SIGKILL" >&2
      kill -KILL "$pid" 2> /dev/null || true
    fi
    echo "slapd $pid stopped in $(elapsed "$t0") s" >&2
  else
    echo "no running slapd for $LDAP_DIR" >&2
  fi
  if [[ ${KEEP:-0} != 1 && -d $LDAP_DIR ]]; then
    # only wipe what looks like one of our instances
    if [[ -d $LDAP_DIR/slapd.d || -z $(ls -A "$LDAP_DIR") ]]; then
      rm -rf "$LDAP_DIR"
    else
      echo "$LDAP_DIR holds no slapd instance; not wiping it" >&2
    fi
  fi
}

case $ACTION in
  start) start ;;
  stop) stop ;;
  *) echo "usage: LDAP_DIR=... $0 start|stop" >&2; exit 2 ;;
esac
