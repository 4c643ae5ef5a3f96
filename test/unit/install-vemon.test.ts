import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findMonitorAccount, installVemon } from '../../src/admin/install-vemon.js';
import { formatInstallReport } from '../../src/admin/install-report.js';
import { parseConfig } from '../../src/config/load-config.js';

const asRoot = process.geteuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };

function setup(t: { teardown: (fn: () => void) => void }): { dir: string; config: ReturnType<typeof parseConfig> } {
  const dir = mkdtempSync('/tmp/pbsve-vemon-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  mkdirSync(join(dir, 'etc/host-keys'), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'etc/host-keys/node1.key'), `${'ab'.repeat(32)}\n`, { mode: 0o644 });
  writeFileSync(join(dir, 'etc/ldap-write.json'), '{}', { mode: 0o600 });
  mkdirSync(join(dir, 'state/monitor/spool/failed'), { recursive: true });
  writeFileSync(join(dir, 'state/monitor/spool/000000000000001-1-0-101.events'), 'x\n');
  const config = parseConfig({ batch: { kind: 'torque', eventSubmitUser: 'pbsve' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(dir, 'state'), ldapWriteCredentialsFile: join(dir, 'etc/ldap-write.json') });
  return { dir, config };
}

void t.test('the monitor account: the TORQUE submitter, root on Slurm', (t) => {
  t.equal(findMonitorAccount(parseConfig({ batch: { kind: 'torque', eventSubmitUser: 'svc' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } })), 'svc');
  t.equal(findMonitorAccount(parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } })), 'root');
  t.end();
});

void t.test('keys, credentials and the monitor state become the account\'s, 0600/0700; a second run changes nothing', { skip: asRoot ? false : 'needs root (chown)' }, async (t) => {
  const { dir, config } = setup(t);
  const dry = await installVemon({ config, configDir: join(dir, 'etc'), account: 'nobody', ids: NOBODY, dryRun: true });
  t.equal(statSync(join(dir, 'etc/host-keys/node1.key')).uid, 0, 'dry run: nothing changed');
  t.match(formatInstallReport(dry), /would update\s+\S+host-keys\/node1.key: nobody \(65534:65534\), mode 0600 \(was 0:0, mode 0644\)/);
  const report = await installVemon({ config, configDir: join(dir, 'etc'), account: 'nobody', ids: NOBODY, dryRun: false });
  for (const [path, mode] of [['etc/host-keys', 0o700], ['etc/host-keys/node1.key', 0o600], ['etc/ldap-write.json', 0o600], ['state/monitor', 0o700], ['state/monitor/spool/failed', 0o700], ['state/monitor/spool/000000000000001-1-0-101.events', 0o600]] as const) {
    const st = statSync(join(dir, path));
    t.same([st.uid, st.gid, st.mode & 0o777], [65534, 65534, mode], path);
  }
  t.ok(report.steps.every((s) => s.action === 'update'), 'all were root\'s');
  const again = await installVemon({ config, configDir: join(dir, 'etc'), account: 'nobody', ids: NOBODY, dryRun: false });
  t.ok(again.steps.every((s) => s.action === 'unchanged'), 'idempotent');
});

void t.test('a symlink is never followed; missing credentials are a manual step', { skip: asRoot ? false : 'needs root (chown)' }, async (t) => {
  const { dir, config } = setup(t);
  rmSync(join(dir, 'etc/ldap-write.json'));
  const report = await installVemon({ config, configDir: join(dir, 'etc'), account: 'nobody', ids: NOBODY, dryRun: true });
  t.match(formatInstallReport(report), /manual\s+\S+ldap-write.json: not there yet/);
  symlinkSync('/etc/shadow', join(dir, 'etc/host-keys/evil.key'));
  chmodSync(join(dir, 'etc/host-keys'), 0o700);
  await t.rejects(installVemon({ config, configDir: join(dir, 'etc'), account: 'nobody', ids: NOBODY, dryRun: false }), { code: 'install-refused', message: /evil.key is a symbolic link/ });
  t.equal(statSync('/etc/shadow').uid, 0, '/etc/shadow untouched');
  t.equal(statSync(join(dir, 'etc/host-keys/node1.key')).uid, 0, 'nothing else changed either');
});
