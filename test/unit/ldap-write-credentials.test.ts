import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLdapWriteCredentials, parseConfig } from '../../src/config/load-config.js';

const dir = mkdtempSync('/tmp/pbsve-creds-');
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
const file = join(dir, 'ldap-write.json');
const config = parseConfig({ batch: { kind: 'torque' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, ldapWriteCredentialsFile: file });
const me = process.geteuid?.() ?? 0;

void t.test('ldap-write.json: 0600, owned by the account that uses it (the monitor account, not always root)', (t) => {
  t.throws(() => loadLdapWriteCredentials(config, me), { code: 'no-ldap-write-credentials', message: /ENOENT.*only on vemon nodes, as the account vemon jobs run as/ });
  writeFileSync(file, '{"bindDn":"cn=ve-monitor,ou=services,dc=x","password":"s3cret"}\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  t.same(loadLdapWriteCredentials(config, me), { bindDn: 'cn=ve-monitor,ou=services,dc=x', password: 's3cret' });
  t.throws(() => loadLdapWriteCredentials(config, me + 4242), { code: 'ldap-credentials-insecure', message: /owned by the account that uses it \(uid \d+; it is mode 600, uid \d+\)/ }, 'another non-root account: refused');
  t.same(loadLdapWriteCredentials(config, 0).bindDn, 'cn=ve-monitor,ou=services,dc=x', 'root may use the monitor account\'s file');
  chmodSync(file, 0o640);
  t.throws(() => loadLdapWriteCredentials(config, me), { code: 'ldap-credentials-insecure', message: /mode 640/ }, 'group-readable: refused');
  chmodSync(file, 0o600);
  writeFileSync(file, '{not json');
  t.throws(() => loadLdapWriteCredentials(config, me), { code: 'invalid-config', message: /not valid JSON/ });
  t.end();
});
