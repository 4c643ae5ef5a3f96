import { createFakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { reconcile } from '../../src/ve-monitor/reconcile.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { VeError } from '../../src/core/ve-error.js';
import type { Batch, BatchJob } from '../../src/batch/batch.js';
import type { HistoryRecord, Inventory, VeRecord } from '../../src/inventory/inventory.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

function buildInventory(records: VeRecord[]): Inventory & { calls: Record<string, number> } {
  const ves = new Map(records.map((r) => [r.jobId, r]));
  const history: HistoryRecord[] = [];
  const calls: Record<string, number> = { getVe: 0, listVes: 0 };
  const count = (k: string): void => { calls[k] = (calls[k] ?? 0) + 1; };
  return createFakeInventory({
    calls,
    getVe: (id) => { count('getVe'); return Promise.resolve(ves.get(id)); },
    listVes: () => { count('listVes'); return Promise.resolve([...ves.values()].filter((v) => !['destroyed', 'lost', 'failed'].includes(v.state))); },
    createVe: (r) => { if (ves.has(r.jobId)) return Promise.reject(new VeError('inventory-exists', 'exec', 'x')); ves.set(r.jobId, r); return Promise.resolve(); },
    updateVe: (r, expected) => { if (ves.get(r.jobId)?.seq !== expected) return Promise.resolve(false); ves.set(r.jobId, r); return Promise.resolve(true); },
    addHistory: (h) => { history.push(h); return Promise.resolve(true); },
    listHistory: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  });
}

function buildBatch(jobs: BatchJob[]): Batch & { calls: Record<string, number> } {
  const calls: Record<string, number> = { getJob: 0, listJobs: 0 };
  const no = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    ...createFakeBatch({}), calls,
    getJob: () => { calls['getJob'] = (calls['getJob'] ?? 0) + 1; return no(); },
    listJobs: (filter) => { calls['listJobs'] = (calls['listJobs'] ?? 0) + 1; return Promise.resolve(jobs.filter((j) => filter?.queue === undefined || j.queue === filter.queue)); },
  };
}

function job(jobId: string, patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: `ve-v${jobId}`, owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

const clock = { now: () => new Date('2026-05-01T10:00:00Z'), sleep: () => Promise.resolve() };

void t.test('one listing each, never a getJob per VE; drift found by map lookups', async (t) => {
  const records: VeRecord[] = Array.from({ length: 1000 }, (_, i) => ({
    jobId: String(i + 1), name: `v${i + 1}`, owner: 'user1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running',
    host: 'node1', domain: `pbsve-${i + 1}`, seq: 1_000_001, lastChange: '2026-05-01T09:00:00.000Z',
  }));
  // every 100th VE's job is gone, every 100th+1 has ended; one job moved to another queue still lives
  const jobs = records.filter((_, i) => i % 100 !== 0).map((r, i) => job(r.jobId, i % 100 === 0 ? { state: 'completed', rawState: 'COMPLETED' } : r.jobId === '500' ? { queue: 'other' } : {}));
  const spec = encodeVeSpec({ version: 1, name: 'newbie', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600 });
  jobs.push(job('5000', { variables: { VE_SPEC: spec } }));
  const inventory = buildInventory(records);
  const batch = buildBatch(jobs);
  const drift = await reconcile({ inventory, batch, clock, veQueue: 'batch' }, { dryRun: false });
  t.equal(batch.calls['getJob'], 0, 'no getJob per VE');
  t.equal(batch.calls['listJobs'], 1);
  t.equal(inventory.calls['listVes'], 1);
  t.equal(inventory.calls['getVe'], 10 + 10 + 1, 'LDAP reads only for drift (one CAS read per change, one check per unknown job)');
  t.equal(drift.filter((d) => d.finding === 'job-gone').length, 20);
  t.notOk(drift.some((d) => d.jobId === '500'), 'a live job in another queue is not lost');
  t.same(drift.filter((d) => d.finding === 'unknown-to-ldap').map((d) => d.jobId), ['5000']);
  t.ok(drift.every((d) => d.changed === (d.finding !== 'unknown-to-ldap')), 'a VE job unknown to LDAP is listed, never written from its job comment');
});
