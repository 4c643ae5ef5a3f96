import { createFakeInventory, type FakeInventory } from '../fakes/fake-inventory.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FENCE_NOTE, recoverFailedHosts, type RecoverFailedHostsDeps } from '../../src/ve-monitor/recover-failed-hosts.js';
import { VeError } from '../../src/core/ve-error.js';
import type { ClusterView } from '../../src/ve-monitor/reconcile.js';
import type { Alert } from '../../src/ve-monitor/send-alert.js';
import type { Batch } from '../../src/batch/batch.js';
import type { VeRecord } from '../../src/inventory/inventory.js';
import { buildJob, buildNode, buildVeRecord } from '../harness/build-batch-records.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const job = buildJob;
const node = buildNode;
const ve = (jobId: string, patch: Partial<VeRecord> = {}): VeRecord => buildVeRecord(jobId, { state: 'unknown', seq: 1_000_003, ...patch });

function buildInventory(records: VeRecord[]): FakeInventory {
  const inventory = createFakeInventory();
  for (const r of records) inventory.ves.set(r.jobId, r);
  return inventory;
}

// Records every call in order: the fence must come before any requeue.
function buildBatch(failFence = false): Batch & { calls: string[] } {
  const calls: string[] = [];
  return {
    ...createFakeBatch({}), calls,
    setNodeOffline: (n, note) => {
      calls.push(`drain ${n} ${note}`);
      return failFence ? Promise.reject(new VeError('batch-command-failed', 'exec', 'scontrol: slurmctld down')) : Promise.resolve();
    },
    requeue: (id, options) => { calls.push(`requeue ${id}${options?.hostDown === true ? '' : ' (host not marked down)'}`); return id === '9' ? Promise.reject(new VeError('batch-command-failed', 'exec', 'no')) : Promise.resolve(); },
  };
}

function setup(options: { failFence?: boolean } = {}) {
  let now = new Date('2026-05-01T10:00:00Z');
  const alerts: Alert[] = [];
  const log: string[] = [];
  const inventory = buildInventory([ve('1'), ve('2'), ve('3', { host: 'node2', state: 'running', seq: 1_000_002 }), ve('4')]);
  const batch = buildBatch(options.failFence === true);
  const deps: RecoverFailedHostsDeps = {
    inventory, batch, veQueue: 'batch', stateFile: join(makeTempDir(join(tmpdir(), 'pbsve-recover-')), 'monitor/down-hosts.json'),
    clock: { now: () => now, sleep: () => Promise.resolve() },
    alert: (a) => { alerts.push(a); return Promise.resolve('sent'); },
    log: (l) => { log.push(l); },
  };
  const view: ClusterView = {
    ves: [...inventory.ves.values()],
    // 1, 2 still placed on the dead node1; 4 requeued by Slurm itself; 3 runs on node2; 8 is no VE job
    jobs: [job('1'), job('2'), job('3', { execHosts: ['node2'] }), job('4', { state: 'queued', rawState: 'PENDING', execHosts: [] }), job('8')],
    nodes: [node('node1', 'down', 'DOWN+NOT_RESPONDING'), node('node2', 'busy', 'ALLOCATED')],
    nodesProblem: undefined,
  };
  return { deps, view, inventory, batch, alerts, log, advance: (ms: number) => { now = new Date(now.getTime() + ms); } };
}

void t.test('inside the grace time: watched and announced once, nothing fenced', async (t) => {
  const s = setup();
  const first = await recoverFailedHosts(s.deps, s.view, { graceMs: 120_000, dryRun: false });
  t.same(first.map((h) => [h.host, h.action]), [['node1', 'watching']]);
  s.advance(60_000);
  const second = await recoverFailedHosts(s.deps, s.view, { graceMs: 120_000, dryRun: false });
  t.equal(second[0]?.downSince, '2026-05-01T10:00:00.000Z', 'first-seen time kept in the state file');
  t.match(second[0]?.detail, /down for 60 s of 120 s/);
  t.same(s.batch.calls, []);
  t.same(s.alerts.map((a) => [a.kind, a.key]), [['host-down', 'node1']]);
  t.same(JSON.parse(readFileSync(s.deps.stateFile, 'utf8')), { node1: { since: '2026-05-01T10:00:00.000Z' } });
});

void t.test('past the grace time: fence first, then requeue, history and one alert', async (t) => {
  const s = setup();
  await recoverFailedHosts(s.deps, s.view, { graceMs: 120_000, dryRun: false });
  s.advance(121_000);
  const [h] = await recoverFailedHosts(s.deps, s.view, { graceMs: 120_000, dryRun: false });
  t.equal(h?.action, 'fenced');
  t.same(s.batch.calls, [`drain node1 ${FENCE_NOTE}`, 'requeue 1', 'requeue 2'], 'drained before any requeue; job 8 is no VE job');
  t.same(h?.requeued, ['1', '2']);
  t.same(h?.requeuedByBatch, ['4']);
  t.same(s.inventory.history.map((r) => [r.jobId, r.state, r.source, r.seq]), [['1', 'unknown', 'recovery', 1_000_004], ['2', 'unknown', 'recovery', 1_000_004], ['4', 'unknown', 'recovery', 1_000_004]]);
  t.match(s.inventory.history[0]?.reason, /requeued: host node1 down since 2026-05-01T10:00:00.000Z, fenced/);
  t.match(s.inventory.history[2]?.reason, /the batch system requeued the job/);
  t.same(s.alerts.map((a) => [a.kind, a.key]), [['host-down', 'node1'], ['host-fenced', 'node1']]);
  t.match(s.alerts[1]?.text, /resume the node by hand/);

  // the next pass: still down, already fenced; its jobs are gone from it now
  s.advance(60_000);
  const after = { ...s.view, jobs: s.view.jobs.map((j) => (['1', '2'].includes(j.jobId) ? { ...j, state: 'queued' as const, execHosts: [] } : j)) };
  const [again] = await recoverFailedHosts(s.deps, after, { graceMs: 120_000, dryRun: false });
  t.equal(again?.action, 'already-fenced');
  t.equal(s.batch.calls.length, 3, 'not drained again, nothing requeued again');
  t.equal(s.inventory.history.length, 3, 'no second history entry');

  // the host returns (drained, so "offline"): its entry is dropped
  await recoverFailedHosts(s.deps, { ...after, nodes: [node('node1', 'offline', 'IDLE+DRAIN'), node('node2', 'busy', 'ALLOCATED')] }, { graceMs: 120_000, dryRun: false });
  t.same(JSON.parse(readFileSync(s.deps.stateFile, 'utf8')), {});
});

void t.test('a fence that fails stops the recovery of that host: nothing requeued', async (t) => {
  const s = setup({ failFence: true });
  await recoverFailedHosts(s.deps, s.view, { graceMs: 0, dryRun: false });
  t.same(s.batch.calls, [`drain node1 ${FENCE_NOTE}`]);
  t.same(s.alerts.map((a) => a.kind), ['fence-failed']);
  t.equal(s.inventory.history.length, 0);
});

void t.test('a requeue that fails is alerted and reported, the others go on', async (t) => {
  const s = setup();
  const view = { ...s.view, jobs: [...s.view.jobs, job('9')], ves: [...s.view.ves, ve('9')] };
  const [h] = await recoverFailedHosts(s.deps, view, { graceMs: 0, dryRun: false });
  t.same(h?.requeued, ['1', '2']);
  t.match(h?.failed, [/^9: /]);
  t.ok(s.alerts.some((a) => a.kind === 'requeue-failed' && a.key === '9'));
});

void t.test('--dry-run and an unreadable node list change nothing', async (t) => {
  const s = setup();
  const [h] = await recoverFailedHosts(s.deps, s.view, { graceMs: 0, dryRun: true });
  t.equal(h?.action, 'would-fence');
  t.match(h?.detail, /requeue 2 VE job/);
  t.same(s.batch.calls, []);
  t.same(s.alerts, []);
  t.same(await recoverFailedHosts(s.deps, { ...s.view, nodes: undefined, nodesProblem: 'sinfo: timeout' }, { graceMs: 0, dryRun: false }), []);
  t.match(s.log, [/host recovery skipped.*sinfo: timeout/]);
});
