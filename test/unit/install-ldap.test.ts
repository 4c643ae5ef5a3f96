import t from 'tap';
import { createHash } from 'node:crypto';
import { applyLdapInstallSteps, buildLdapInstallSteps, formatLdapInstallSteps, hashLdapPassword, LDAPI_ROOT, SCHEMA_FILE } from '../../src/admin/install-ldap.js';
import type { CommandOptions, CommandResult } from '../../src/core/run-command.js';

const input = { baseDn: 'ou=pbs-ve,dc=example,dc=org', writerDn: 'cn=ve-monitor,ou=services,ou=pbs-ve,dc=example,dc=org', writerPassword: 'correct horse battery', salt: Buffer.from('0102030405060708', 'hex') };

void t.test('the LDIF: ACLs first in the database, base entries, the writer with a salted hash', (t) => {
  const steps = buildLdapInstallSteps(input);
  t.same(steps.map((s) => [s.name, s.target, s.records.length]), [['schema', 'config', 0], ['acl', 'config', 1], ['entries', 'data', 6]]);
  const acl = steps[1]?.records[0] ?? '';
  t.match(acl, /^dn: olcDatabase=\{1\}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n/);
  t.match(acl, `olcAccess: {0}to dn.subtree="ou=ves,ou=pbs-ve,dc=example,dc=org" by dn.exact="${LDAPI_ROOT}" manage by dn.exact="cn=ve-monitor,ou=services,ou=pbs-ve,dc=example,dc=org" write by * read`);
  t.match(acl, 'olcAccess: {3}to dn.subtree="ou=pbs-ve,dc=example,dc=org" attrs=userPassword');
  t.match(acl, 'by anonymous auth by * none');
  t.match(acl, 'olcLimits: dn.exact="cn=ve-monitor,ou=services,ou=pbs-ve,dc=example,dc=org" size=unlimited time=unlimited');
  const entries = steps[2]?.records ?? [];
  t.match(entries[0], /^dn: ou=pbs-ve,dc=example,dc=org\nobjectClass: organizationalUnit\nou: pbs-ve/);
  t.same(entries.map((e) => e.split('\n')[0]), ['ou=pbs-ve', 'ou=ves', 'ou=hosts', 'ou=images', 'ou=services', 'cn=ve-monitor,ou=services'].map((r, i) => `dn: ${i === 0 ? 'ou=pbs-ve,dc=example,dc=org' : `${r},ou=pbs-ve,dc=example,dc=org`}`));
  const hash = hashLdapPassword('correct horse battery', input.salt);
  t.match(entries[5], `userPassword: ${hash}`);
  t.notMatch(formatLdapInstallSteps(steps), /correct horse/, 'the clear password is never printed');
  // {SSHA} = base64(sha1(password + salt) + salt), what slapd verifies
  const raw = Buffer.from(hash.slice(6), 'base64');
  t.same(raw.subarray(20), input.salt);
  t.same(raw.subarray(0, 20), createHash('sha1').update('correct horse battery').update(input.salt).digest());
  t.match(buildLdapInstallSteps({ ...input, baseDn: 'dc=pbs-ve,dc=test', writerDn: 'uid=writer,dc=pbs-ve,dc=test' })[2]?.records[0], /objectClass: dcObject\nobjectClass: organization\ndc: pbs-ve/);
  t.end();
});

void t.test('hostile or unusable input is refused, naming the field', (t) => {
  t.throws(() => buildLdapInstallSteps({ ...input, baseDn: 'ou=x\ndn: cn=admin' }), { code: 'invalid-field', field: 'ldap.baseDn' });
  t.throws(() => buildLdapInstallSteps({ ...input, baseDn: 'cn=x,dc=y' }), { code: 'invalid-field', field: 'ldap.baseDn' });
  t.throws(() => buildLdapInstallSteps({ ...input, writerDn: 'cn=a" by * write,dc=x' }), { code: 'invalid-field', field: 'bindDn' });
  t.throws(() => buildLdapInstallSteps({ ...input, writerPassword: 'short' }), { code: 'invalid-field', field: 'password' });
  t.throws(() => buildLdapInstallSteps({ ...input, databaseDn: 'cn=config' }), { code: 'invalid-field', field: 'database-dn' });
  t.end();
});

void t.test('--apply: argument arrays, LDIF on stdin, idempotent (what is there is "exists")', async (t) => {
  const calls: { file: string; args: readonly string[]; input: string | undefined }[] = [];
  const run = (file: string, args: readonly string[], o?: CommandOptions): Promise<CommandResult> => {
    calls.push({ file, args, input: o?.input });
    if (file.endsWith('ldapsearch') && args.includes('cn=schema,cn=config')) return Promise.resolve({ exitCode: 0, stdout: 'dn: cn={4}pbs-ve,cn=schema,cn=config\n\n', stderr: '' });
    if (file.endsWith('ldapsearch')) return Promise.resolve({ exitCode: 0, stdout: 'dn: olcDatabase={1}mdb,cn=config\nolcAccess: {0}to * by * read\n', stderr: '' });
    if (o?.input?.startsWith('dn: ou=pbs-ve,') === true) return Promise.resolve({ exitCode: 68, stdout: '', stderr: 'ldap_add: Already exists (68)\n' });
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  };
  const results = await applyLdapInstallSteps(buildLdapInstallSteps(input), { uri: 'ldapi:///', runCommand: run, bindDn: 'cn=admin,dc=example,dc=org', bindPasswordFile: '/root/ldap-admin.pw' });
  t.same(results.map((r) => `${r.outcome} ${r.step}`), ['exists schema', 'applied acl', 'exists entries', ...Array.from({ length: 5 }, () => 'applied entries')]);
  const modify = calls.find((c) => c.file === 'ldapmodify');
  t.same(modify?.args, ['-Q', '-Y', 'EXTERNAL', '-H', 'ldapi:///'], 'cn=config as root over ldapi');
  t.match(modify?.input, /^dn: olcDatabase=\{1\}mdb,cn=config\n/);
  const adds = calls.filter((c) => c.file === 'ldapadd');
  t.same(adds[0]?.args, ['-x', '-D', 'cn=admin,dc=example,dc=org', '-y', '/root/ldap-admin.pw', '-H', 'ldapi:///'], 'entries with the given bind; the password from a file, never argv');
  t.notOk(calls.some((c) => c.args.some((a) => a.includes('correct horse'))), 'no secret in any argv');
  await t.rejects(applyLdapInstallSteps(buildLdapInstallSteps(input), { uri: 'ldapi:///', runCommand: run, bindDn: 'cn=admin' }), { code: 'invalid-field', field: 'bind-password-file' });
  t.ok(SCHEMA_FILE.endsWith('/schema/pbs-ve.ldif'));
});
