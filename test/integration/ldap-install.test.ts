// `ve admin install ldap --apply` against a real slapd: a second pbs-ve subtree with its own writer,
// set up only by the command, then used by the real inventory adapter.
import t from 'tap';
import { join } from 'node:path';
import { applyLdapInstallSteps, buildLdapInstallSteps } from '../../src/admin/install-ldap.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeRecord } from '../../src/inventory/inventory.js';
import { startSlapd } from '../harness/slapd.js';

const slapd = await startSlapd();
t.teardown(() => slapd.stop());
const ldapi = `ldapi://${encodeURIComponent(join(slapd.dir, 'ldapi'))}`;
const baseDn = `ou=site2,${slapd.baseDn}`;
const writerDn = `cn=writer2,ou=services,${baseDn}`;
const writerPassword = 'a-long-enough-password-2';

const ve: VeRecord = {
  jobId: '1.srv', name: 'web1', owner: 'alice', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64,
  state: 'running', host: 'node1', domain: 'pbsve-1.srv', seq: 1_000_002, lastChange: '2026-12-01T10:00:00.000Z',
};

void t.test('applied once: entries, writer and ACLs work; applied again: everything "exists"', async (t) => {
  const steps = buildLdapInstallSteps({ baseDn, writerDn, writerPassword });
  const first = await applyLdapInstallSteps(steps, { uri: ldapi });
  t.same(first.map((r) => `${r.outcome} ${r.step}`), ['exists schema', 'applied acl', ...Array.from({ length: 6 }, () => 'applied entries')], JSON.stringify(first));

  const writer = createLdapInventory({ url: slapd.url, baseDn, bindDn: writerDn, password: writerPassword, timeoutMs: 5000 });
  t.teardown(() => writer.close());
  await writer.createVe(ve);
  const anonymous = createLdapInventory({ url: slapd.url, baseDn, timeoutMs: 5000 });
  t.teardown(() => anonymous.close());
  t.equal((await anonymous.getVe('1.srv'))?.state, 'running', 'the writer wrote, anonymous reads');

  // the other subtree's writer may read here but not write
  const other = createLdapInventory({ url: slapd.url, baseDn, bindDn: slapd.writerDn, password: slapd.writerPassword, timeoutMs: 5000 });
  t.teardown(() => other.close());
  const refused = await other.createVe({ ...ve, jobId: '2.srv', domain: 'pbsve-2.srv' }).then(() => undefined, (err: unknown) => err);
  t.ok(refused instanceof VeError, `another writer is refused: ${String(refused)}`);
  t.equal(await anonymous.getVe('2.srv'), undefined);

  const again = await applyLdapInstallSteps(steps, { uri: ldapi });
  t.same(again.map((r) => `${r.outcome} ${r.step}`), ['exists schema', 'exists acl', ...Array.from({ length: 6 }, () => 'exists entries')], 'idempotent');
});
