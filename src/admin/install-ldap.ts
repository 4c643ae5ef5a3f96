// `ve admin install ldap`: the directory side of pbs-ve (schema, base entries, the one writer and its ACLs).
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { VeError } from '../core/ve-error.js';
import { runCommand as defaultRunCommand, type RunCommand } from '../core/run-command.js';
import { BASE_RDN_TYPES, checkLdapDn } from './check-ldap-dn.js';

/** root over ldapi: the identity slapd gives a local root process with SASL EXTERNAL */
export const LDAPI_ROOT = 'gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth';
export const DEFAULT_DATABASE_DN = 'olcDatabase={1}mdb,cn=config';
export const SCHEMA_FILE = fileURLToPath(new URL('../../../schema/pbs-ve.ldif', import.meta.url));

export interface LdapInstallInput {
  readonly baseDn: string;
  /** the writer: bindDn and password of the vemon nodes' ldap-write.json */
  readonly writerDn: string;
  readonly writerPassword: string;
  /** the cn=config entry of the database holding baseDn */
  readonly databaseDn?: string;
  /** for tests: a fixed salt makes the password hash reproducible */
  readonly salt?: Buffer;
}

export interface LdapInstallStep {
  readonly name: 'schema' | 'acl' | 'entries';
  /** cn=config changes go through SASL EXTERNAL as root; entries through the chosen bind */
  readonly target: 'config' | 'data';
  /** LDIF records, each applied on its own (so "already there" is told per record) */
  readonly records: readonly string[];
  readonly why: string;
}

// {SSHA}: what slappasswd writes by default; the clear password never reaches the directory or argv.
export function hashLdapPassword(password: string, salt: Buffer = randomBytes(8)): string {
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

// The base entry's object classes follow its first RDN (ou=, o= or dc=).
function buildBaseEntry(baseDn: string): string {
  const [type, value] = (baseDn.split(',')[0] ?? '').split('=') as [string, string];
  const lower = type.toLowerCase();
  if (lower === 'ou') return `dn: ${baseDn}\nobjectClass: organizationalUnit\nou: ${value}\ndescription: pbs-ve inventory`;
  if (lower === 'o') return `dn: ${baseDn}\nobjectClass: organization\no: ${value}`;
  return `dn: ${baseDn}\nobjectClass: dcObject\nobjectClass: organization\ndc: ${value}\no: ${value}`;
}

// The writer may write only ou=ves, ou=hosts and ou=images; everyone may read them (ve list reads
// anonymously); passwords are only for binding. Inserted at {0}..: ahead of a site's "to * by * read".
export function buildAclRecord(baseDn: string, writerDn: string, databaseDn: string): string {
  const manage = `by dn.exact="${LDAPI_ROOT}" manage`;
  const subtree = (rdn: string): string => `to dn.subtree="${rdn},${baseDn}" ${manage} by dn.exact="${writerDn}" write by * read`;
  const rules = [
    subtree('ou=ves'),
    subtree('ou=hosts'),
    subtree('ou=images'),
    `to dn.subtree="${baseDn}" attrs=userPassword ${manage} by anonymous auth by * none`,
    `to dn.subtree="${baseDn}" ${manage} by * read`,
  ];
  return [
    `dn: ${databaseDn}`, 'changetype: modify', 'add: olcAccess', ...rules.map((r, i) => `olcAccess: {${i}}${r}`), '-',
    // reconcile reads every VE in one search: no size limit for the writer
    'add: olcLimits', `olcLimits: dn.exact="${writerDn}" size=unlimited time=unlimited`, '-',
  ].join('\n');
}

/** The three steps in order: schema (cn=config), ACLs (cn=config), entries (the data). */
export function buildLdapInstallSteps(input: LdapInstallInput): LdapInstallStep[] {
  const baseDn = checkLdapDn('ldap.baseDn', input.baseDn, BASE_RDN_TYPES);
  const writerDn = checkLdapDn('bindDn', input.writerDn, ['cn', 'uid']);
  const databaseDn = input.databaseDn ?? DEFAULT_DATABASE_DN;
  if (!/^olcDatabase=\{-?\d+\}[a-z]+,cn=config$/.test(databaseDn)) {
    throw new VeError('invalid-field', 'prereq', `database-dn: must be a cn=config database entry such as ${DEFAULT_DATABASE_DN} (got ${JSON.stringify(databaseDn)})`, { field: 'database-dn' });
  }
  if (input.writerPassword.length < 12 || /[\r\n]/.test(input.writerPassword)) {
    throw new VeError('invalid-field', 'prereq', 'password (ldap-write.json): must be one line of at least 12 characters', { field: 'password' });
  }
  const writerRdn = writerDn.split(',')[0] ?? '';
  const writerParent = writerDn.slice(writerRdn.length + 1);
  const ou = (rdn: string, description: string): string => `dn: ${rdn},${baseDn}\nobjectClass: organizationalUnit\nou: ${rdn.slice(3)}\ndescription: ${description}`;
  const entries = [
    buildBaseEntry(baseDn),
    ou('ou=ves', 'VEs (pbsveJobId=<job id>) and their state history (pbsveSeq=<seq> children)'),
    ou('ou=hosts', 'hosts and their reports'),
    ou('ou=images', 'the image catalog'),
    ...(writerParent === `ou=services,${baseDn}` ? [ou('ou=services', 'service accounts')] : []),
    [`dn: ${writerDn}`, 'objectClass: applicationProcess', 'objectClass: simpleSecurityObject', `${writerRdn.split('=')[0] ?? 'cn'}: ${writerRdn.split('=')[1] ?? ''}`,
      'description: the only account that writes the pbs-ve inventory (ve-monitor on the vemon nodes)', `userPassword: ${hashLdapPassword(input.writerPassword, input.salt)}`].join('\n'),
  ];
  return [
    { name: 'schema', target: 'config', records: [], why: `the pbs-ve schema (${SCHEMA_FILE}; a directory with an older one: scripts/upgrade-ldap-schema.sh)` },
    { name: 'acl', target: 'config', records: [buildAclRecord(baseDn, writerDn, databaseDn)], why: `only ${writerDn} writes ou=ves, ou=hosts, ou=images; everyone reads them` },
    { name: 'entries', target: 'data', records: entries, why: 'the base entries and the writer (its password as a salted hash)' },
  ];
}

/** Printed form: what an admin feeds to ldapadd/ldapmodify on the LDAP server. */
export function formatLdapInstallSteps(steps: readonly LdapInstallStep[]): string {
  const out: string[] = [];
  for (const step of steps) {
    out.push(`# ${step.name}: ${step.why}`);
    if (step.name === 'schema') out.push(`#   ldapadd -Q -Y EXTERNAL -H ldapi:/// -f ${SCHEMA_FILE}`, '');
    else if (step.target === 'config') out.push('#   ldapmodify -Q -Y EXTERNAL -H ldapi:///   (as root on the LDAP server)', '', ...step.records.map((r) => `${r}\n`));
    else out.push('#   ldapadd -Q -Y EXTERNAL -H ldapi:///   (or -x -D <your rootdn> -W)', '', ...step.records.map((r) => `${r}\n`));
  }
  return out.join('\n');
}

export interface LdapApplyOptions {
  /** ldapi URI of the LDAP server (cn=config needs root over ldapi) */
  readonly uri: string;
  /** bind for the data entries; default SASL EXTERNAL as root */
  readonly bindDn?: string;
  readonly bindPasswordFile?: string;
  readonly binDir?: string;
  readonly timeoutMs?: number;
  readonly runCommand?: RunCommand;
}

export interface LdapApplyResult {
  readonly step: string;
  readonly outcome: 'applied' | 'exists';
  readonly detail: string;
}

const LDAP_ALREADY_EXISTS = 68;

// Idempotent: each record is tried on its own and "already there" is success; nothing passes a shell.
export async function applyLdapInstallSteps(steps: readonly LdapInstallStep[], options: LdapApplyOptions): Promise<LdapApplyResult[]> {
  const run = options.runCommand ?? defaultRunCommand;
  const tool = (name: string): string => (options.binDir === undefined ? name : `${options.binDir}/${name}`);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const external = ['-Q', '-Y', 'EXTERNAL', '-H', options.uri];
  if (options.bindDn !== undefined && options.bindPasswordFile === undefined) {
    throw new VeError('invalid-field', 'prereq', 'bind-password-file: needed with --bind-dn (a file holding the password; ldapadd reads it with -y)', { field: 'bind-password-file' });
  }
  const dataAuth = options.bindDn === undefined ? external : ['-x', '-D', options.bindDn, '-y', options.bindPasswordFile ?? '', '-H', options.uri];
  const fail = (what: string, r: { exitCode: number; stderr: string; stdout: string }): VeError =>
    new VeError('ldap-install-failed', 'exec', `${what} failed (exit ${r.exitCode}): ${`${r.stderr}${r.stdout}`.trim().slice(0, 400)}`, { details: { exitCode: r.exitCode } });
  const results: LdapApplyResult[] = [];
  for (const step of steps) {
    if (step.name === 'schema') {
      const found = await run(tool('ldapsearch'), [...external, '-LLL', '-o', 'ldif-wrap=no', '-b', 'cn=schema,cn=config', '-s', 'one', '(cn=*pbs-ve)', 'dn'], { timeoutMs });
      if (found.exitCode !== 0) throw fail('ldapsearch cn=schema,cn=config', found);
      if (/^dn: /m.test(found.stdout)) {
        results.push({ step: step.name, outcome: 'exists', detail: 'a pbs-ve schema is loaded (scripts/upgrade-ldap-schema.sh brings it up to date)' });
        continue;
      }
      const r = await run(tool('ldapadd'), [...external, '-f', SCHEMA_FILE], { timeoutMs });
      if (r.exitCode !== 0) throw fail('ldapadd of the schema', r);
      results.push({ step: step.name, outcome: 'applied', detail: SCHEMA_FILE });
    } else if (step.name === 'acl') {
      for (const record of step.records) {
        const dn = record.split('\n')[0]?.slice(4) ?? '';
        const writer = /by dn\.exact="([^"]+)" write/.exec(record)?.[1] ?? '';
        const current = await run(tool('ldapsearch'), [...external, '-LLL', '-o', 'ldif-wrap=no', '-b', dn, '-s', 'base', 'olcAccess'], { timeoutMs });
        if (current.exitCode !== 0) throw fail(`ldapsearch ${dn}`, current);
        if (current.stdout.toLowerCase().replace(/\s+/g, '').includes(`dn.exact="${writer}"write`.toLowerCase().replace(/\s+/g, ''))) {
          results.push({ step: step.name, outcome: 'exists', detail: `${dn} already lets ${writer} write` });
          continue;
        }
        const r = await run(tool('ldapmodify'), external, { timeoutMs, input: `${record}\n` });
        if (r.exitCode !== 0) throw fail(`ldapmodify ${dn}`, r);
        results.push({ step: step.name, outcome: 'applied', detail: dn });
      }
    } else {
      for (const record of step.records) {
        const dn = record.split('\n')[0]?.slice(4) ?? '';
        const r = await run(tool('ldapadd'), dataAuth, { timeoutMs, input: `${record}\n` });
        if (r.exitCode === LDAP_ALREADY_EXISTS || /Already exists/i.test(r.stderr)) results.push({ step: step.name, outcome: 'exists', detail: dn });
        else if (r.exitCode !== 0) throw fail(`ldapadd ${dn}${options.bindDn === undefined ? ' (as root over ldapi; if root may not write the data, give --bind-dn <rootdn> --bind-password-file <file>)' : ''}`, r);
        else results.push({ step: step.name, outcome: 'applied', detail: dn });
      }
    }
  }
  return results;
}
