import { createFakeInventory, type FakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { reconcile, readClusterView } from '../../src/ve-monitor/reconcile.js';
import { nextMonitorSeq } from '../../src/ve-monitor/next-monitor-seq.js';
import type { Batch, BatchJob, BatchNode } from '../../src/batch/batch.js';
import type { VeRecord } from '../../src/inventory/inventory.js';
import { buildJob, buildNode, buildVeRecord } from '../harness/build-batch-records.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const job = buildJob;
const node = buildNode;
const ve = buildVeRecord;

// The shared fake; listVes gives live VEs only, as reconcile's LDAP search asks.
function buildInventory(records: VeRecord[]): FakeInventory {
  const inventory = createFakeInventory();
  for (const r of records) inventory.ves.set(r.jobId, r);
  return Object.assign(inventory, { listVes: () => Promise.resolve([...inventory.ves.values()].filter((v) => !['destroyed', 'lost', 'failed'].includes(v.state))) });
}

function buildBatch(jobs: BatchJob[], nodes: BatchNode[] | Error): Batch & { calls: Record<string, number> } {
  const calls: Record<string, number> = { listNodes: 0, listJobs: 0 };
  return {
    ...createFakeBatch({}), calls,
    listJobs: () => { calls['listJobs'] = (calls['listJobs'] ?? 0) + 1; return Promise.resolve(jobs); },
    listNodes: () => { calls['listNodes'] = (calls['listNodes'] ?? 0) + 1; return nodes instanceof Error ? Promise.reject(nodes) : Promise.resolve(nodes); },
  };
}

const clock = { now: () => new Date('2026-05-01T10:00:00Z'), sleep: () => Promise.resolve() };

void t.test('monitor seqs are never host slots', (t) => {
  t.equal(nextMonitorSeq(1_000_016), 1_000_017, 'after a host event: the seq right above');
  t.equal(nextMonitorSeq(1_000_017), 1_000_018, 'guesses in a row count up below the next host slot');
  t.equal(nextMonitorSeq(1_000_031), 1_000_033, "never the host's slot 1_000_032");
  t.end();
});

void t.test('VEs of a down or drained host become unknown, never stopped; one node listing', async (t) => {
  const inventory = buildInventory([
    ve('1'), ve('2', { state: 'stopped' }), ve('3', { host: 'node2' }), ve('4', { host: 'node3' }), ve('5', { state: 'unknown' }),
    ve('6'), // job requeued by the batch system: pending, LDAP still says node1
  ]);
  const batch = buildBatch(
    [job('1'), job('2'), job('3', { execHosts: ['node2'] }), job('4', { execHosts: ['node3'] }), job('5'), job('6', { state: 'queued', rawState: 'PENDING', execHosts: [] })],
    [node('node1', 'down', 'DOWN+NOT_RESPONDING'), node('node2', 'busy', 'ALLOCATED'), node('node3', 'offline', 'MIXED+DRAIN')],
  );
  const drift = await reconcile({ inventory, batch, clock, veQueue: 'batch' }, { dryRun: false });
  t.equal(batch.calls['listNodes'], 1);
  t.same(drift.map((d) => [d.jobId, d.finding, d.from, d.to]), [
    ['1', 'host-down', 'running', 'unknown'], ['2', 'host-down', 'stopped', 'unknown'], ['4', 'host-down', 'running', 'unknown'], ['6', 'host-down', 'running', 'unknown'],
  ]);
  t.match(drift[0]?.detail, /host node1 is down in the batch system \(DOWN\+NOT_RESPONDING\)/);
  t.equal(inventory.ves.get('1')?.state, 'unknown');
  t.equal(inventory.ves.get('1')?.seq, 1_000_003, 'not a host slot: the host outranks the guess');
  t.equal(inventory.ves.get('3')?.state, 'running', 'a VE on an up host is left alone');
  t.same(inventory.history.map((h) => [h.jobId, h.oldState, h.state, h.source]), [
    ['1', 'running', 'unknown', 'reconcile'], ['2', 'stopped', 'unknown', 'reconcile'], ['4', 'running', 'unknown', 'reconcile'], ['6', 'running', 'unknown', 'reconcile'],
  ]);
});

void t.test('host back: the same start still running on an up host -> running; a new start is left to its prologue', async (t) => {
  const inventory = buildInventory([
    ve('1', { state: 'unknown', seq: 1_000_003 }),
    ve('2', { state: 'unknown', seq: 1_000_003 }), // requeued and started again on node2: start 2
    ve('3', { state: 'unknown', seq: 1_000_003 }), // host still drained
  ]);
  const batch = buildBatch(
    [job('1'), job('2', { execHosts: ['node2'], startCount: 2 }), job('3', { execHosts: ['node3'] })],
    [node('node1', 'free', 'MIXED'), node('node2', 'busy', 'ALLOCATED'), node('node3', 'offline', 'ALLOCATED+DRAIN')],
  );
  const drift = await reconcile({ inventory, batch, clock, veQueue: 'batch' }, { dryRun: false });
  t.same(drift.map((d) => [d.jobId, d.finding, d.to]), [['1', 'host-back', 'running']]);
  t.equal(inventory.ves.get('1')?.state, 'running');
  t.equal(inventory.ves.get('1')?.seq, 1_000_004);
  t.match(inventory.history[0]?.reason, /host back/);
  t.equal(inventory.ves.get('2')?.state, 'unknown');
});

void t.test('a node listing that fails leaves host checks out, the job checks still run', async (t) => {
  const inventory = buildInventory([ve('1'), ve('2')]);
  const batch = buildBatch([job('1')], new Error('sinfo: timeout'));
  const deps = { inventory, batch, clock, veQueue: 'batch' };
  const view = await readClusterView(deps);
  t.equal(view.nodes, undefined);
  t.equal(view.nodesProblem, 'sinfo: timeout');
  const drift = await reconcile(deps, { dryRun: true }, view);
  t.same(drift.map((d) => [d.jobId, d.finding, d.changed]), [['2', 'job-gone', false]]);
  t.equal(batch.calls['listJobs'], 1, 'the given view is not read again');
});

void t.test('a VE already unknown whose job is gone is lost with the next monitor seq', async (t) => {
  const inventory = buildInventory([ve('1', { state: 'unknown', seq: 1_000_031 })]);
  const drift = await reconcile({ inventory, batch: buildBatch([], []), clock, veQueue: 'batch' }, { dryRun: false });
  t.same(drift.map((d) => [d.finding, d.to]), [['job-gone', 'lost']]);
  t.equal(inventory.ves.get('1')?.seq, 1_000_033, "never the host's slot 1_000_032");
});

void t.test('a pass lists the live VEs lean, and a repair builds its event from the entry as it is at the repair', async (t) => {
  const nics = [{ network: 'default', mac: '52:54:00:00:00:07', ip: '10.0.0.7' }];
  const inventory = createFakeInventory();
  for (const r of [ve('1'), ve('2'), ve('3'), ve('4'), ve('5', { state: 'destroyed' })]) inventory.ves.set(r.jobId, r);
  let reads = 0;
  inventory.getVe = (jobId) => { reads++; return Promise.resolve(inventory.ves.get(jobId)); };
  const batch = buildBatch([], [node('node1', 'busy', 'ALLOCATED')]);
  const deps = { inventory, batch, clock, veQueue: 'batch' };
  const view = await readClusterView(deps);
  t.same(view.ves, ['1', '2', '3', '4'].map((id) => ({ jobId: id, name: `v${id}`, state: 'running', host: 'node1', seq: 1_000_002 })), 'only the fields the comparison reads, final states left out');
  t.equal(reads, 0, 'the listing reads no entry one by one');
  // between the listing and the repairs: 1 gains NICs and a cluster (same seq), 2 is removed, 3 gets its host's next event
  inventory.ves.set('1', ve('1', { nics, cluster: { name: 'c1', role: 'web' }, image: 'debian12' }));
  inventory.ves.delete('2');
  inventory.ves.set('3', ve('3', { seq: 1_000_016, state: 'stopping' }));
  const dry = await reconcile(deps, { dryRun: true }, view);
  t.equal(reads, 0, 'a dry run reads no entry');
  t.ok(dry.every((d) => !d.changed) && dry.length === 4);
  const drift = await reconcile(deps, { dryRun: false }, view);
  t.same(drift.map((d) => [d.jobId, d.finding, d.to, d.changed]), [['1', 'job-gone', 'lost', true], ['2', 'job-gone', 'lost', false], ['3', 'job-gone', 'lost', false], ['4', 'job-gone', 'lost', true]]);
  t.equal(reads, 4, 'one read per repair: the fold starts from it (no second read)');
  t.same(inventory.ves.get('1'), { ...ve('1', { nics, cluster: { name: 'c1', role: 'web' }, image: 'debian12' }), state: 'lost', seq: 1_000_003, lastChange: '2026-05-01T10:00:00.000Z' },
    'the entry as it stood at the repair, NICs and cluster kept, only state, seq and time changed');
  t.match(drift[1]?.detail, /not written: the entry is gone since the listing/);
  t.notOk(inventory.ves.has('2'), 'a removed entry is not made again from half a record');
  t.equal(inventory.ves.get('3')?.state, 'stopping', "the host's event since the listing outranks the guess");
  t.same(inventory.history.filter((h) => h.jobId === '3').map((h) => [h.state, h.oldState]), [['lost', undefined]], 'the late guess is history only');
});
