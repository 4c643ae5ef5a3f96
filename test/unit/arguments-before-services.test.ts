// Arguments are checked before any service is asked: with the batch system and LDAP down, a bad name is
// still the name rule (exit 2), not batch-unavailable (exit 3).
import t from 'tap';
import { parseConfig } from '../../src/config/load-config.js';
import { VeError } from '../../src/core/ve-error.js';
import { decideExitCode } from '../../src/core/decide-exit-code.js';
import { createVe } from '../../src/qsub-wrappers/create-ve.js';
import { findVe } from '../../src/qsub-wrappers/show-ve.js';
import type { Batch } from '../../src/batch/batch.js';
import type { Inventory } from '../../src/inventory/inventory.js';

const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, imageDir: '/nonexistent/images', stateDir: '/nonexistent/state', installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });

// A service that is down: every method call is counted and fails as an unreachable service does.
function downService(kind: string, calls: string[]): Batch & Inventory {
  return new Proxy({}, {
    get: (_target, property) => {
      if (property === 'kind') return 'slurm';
      if (property === 'then') return undefined;
      return () => { calls.push(`${kind}.${String(property)}`); return Promise.reject(new VeError(`${kind}-unavailable`, 'environment', `${kind} is down`)); };
    },
  }) as Batch & Inventory;
}

const good = { name: 'web1', type: 'lxc', image: 'tiny', vcpus: '1', memory: '64', nodes: '1', lease: '1h', disks: [] };

void t.test('ve create: every argument rule answers with the services down, and asks none of them', async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ name: 'web<1>' }, 'name'], [{ name: 'a'.repeat(64) }, 'name'], [{ type: 'xen' }, 'type'], [{ image: '../etc' }, 'image'],
    [{ vcpus: 'two' }, 'vcpus'], [{ vcpus: '0' }, 'vcpus'], [{ memory: 'lots' }, 'memory'], [{ lease: '0' }, 'lease'], [{ lease: '30d' }, 'lease'],
    [{ nodes: '0' }, 'nodes'], [{ networks: ['Bad Name'] }, 'network'],
  ];
  for (const [override, field] of cases) {
    const calls: string[] = [];
    const err = await createVe({ ...good, ...override }, { batch: downService('batch', calls), inventory: downService('inventory', calls), config, configDir: '/etc/pbs-ve', owner: 'user1' })
      .then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof VeError && err.code === 'invalid-field' && err.field === field, `${JSON.stringify(override)}: ${field} rule (${String(err)})`);
    t.equal(decideExitCode(err, 'cli'), 2, 'exit 2');
    t.same(calls, [], 'no service asked');
  }
});

void t.test('ve create: good arguments reach the batch system, and its outage is exit 3', async (t) => {
  const calls: string[] = [];
  const err = await createVe(good, { batch: downService('batch', calls), inventory: downService('inventory', calls), config, configDir: '/etc/pbs-ve', owner: 'user1' }).then(() => undefined, (e: unknown) => e);
  t.match(err, { code: 'batch-unavailable' });
  t.equal(decideExitCode(err, 'cli'), 3);
  t.ok(calls.length > 0);
});

void t.test('show/destroy/console: a VE reference that is neither a name nor a job id is refused before LDAP or the batch system', async (t) => {
  for (const bad of ['web<1>', '-rf', '12;rm', 'a b', '']) {
    const calls: string[] = [];
    const err = await findVe({ batch: downService('batch', calls), inventory: downService('inventory', calls), veQueue: 'batch' }, bad, 'user1').then(() => undefined, (e: unknown) => e);
    t.match(err, { code: 'invalid-field', field: 'name' }, JSON.stringify(bad));
    t.same(calls, []);
  }
  const calls: string[] = [];
  const err = await findVe({ batch: downService('batch', calls), inventory: downService('inventory', calls), veQueue: 'batch' }, '12.vm', 'user1').then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof VeError && err.kind === 'environment', 'a job id goes on to the services');
});
