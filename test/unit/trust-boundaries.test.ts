// Issue 10, the pure parts: numbers bounded at the trust boundary, claims checked in every state,
// claims that cannot be checked never applied, reconcile never believing the job comment.
import { createFakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { nextMonitorSeq } from '../../src/ve-monitor/next-monitor-seq.js';
import { checkEventClaims } from '../../src/ve-monitor/check-event-claims.js';
import { decodeVeEvent, encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { HOST_SEQ_STEP, MAX_EVENT_SEQ } from '../../src/events/next-event-seq.js';
import { reconcile } from '../../src/ve-monitor/reconcile.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { BatchJob } from '../../src/batch/batch.js';
import type { Batch } from '../../src/batch/batch.js';
import type { Inventory, VeRecord } from '../../src/inventory/inventory.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { ImageManifest } from '../../src/images/image-manifest.js';
import { checkSpecAgainstConfig } from '../../src/core/check-spec-against-config.js';
import { findImageMemoryFloor } from '../../src/images/find-image-memory-floor.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const base: VeEvent = {
  version: 1, jobId: '42', seq: 1_000_016, state: 'running', at: '2026-05-01T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'v',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-42', source: 'prologue', reason: 'domain running',
};

function job(patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId: '42', name: 've-v', owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

void t.test('an event seq past the bound is refused at decoding; 2^53-1 is', (t) => {
  t.throws(() => decodeVeEvent(encodeVeEvent({ ...base, seq: Number.MAX_SAFE_INTEGER })), /event seq: must be a whole number from 1 to/);
  t.throws(() => decodeVeEvent(encodeVeEvent({ ...base, seq: MAX_EVENT_SEQ + 1 })), /event seq/);
  t.equal(decodeVeEvent(encodeVeEvent({ ...base, seq: MAX_EVENT_SEQ })).seq, MAX_EVENT_SEQ);
  t.ok(MAX_EVENT_SEQ + 1 !== MAX_EVENT_SEQ && MAX_EVENT_SEQ < Number.MAX_SAFE_INTEGER / 1024, 'far below the float limit');
  t.end();
});

void t.test('the next monitor seq is arithmetic: no loop, no host slot, refuses unbounded input', (t) => {
  t.equal(nextMonitorSeq(1_000_016), 1_000_017);
  t.equal(nextMonitorSeq(1_000_015), 1_000_017, 'a host slot (multiple of 16) is skipped');
  for (let s = 1_000_000; s < 1_000_100; s++) t.not(nextMonitorSeq(s) % HOST_SEQ_STEP, 0);
  t.equal(nextMonitorSeq(MAX_EVENT_SEQ) > MAX_EVENT_SEQ, true);
  t.throws(() => nextMonitorSeq(Number.MAX_SAFE_INTEGER), /seq must be a whole number/);
  t.throws(() => nextMonitorSeq(1.5), /seq must be a whole number/);
  t.throws(() => nextMonitorSeq(Number.NaN), /seq must be a whole number/);
  t.end();
});

void t.test('a host speaks only of jobs placed on it, in every state', (t) => {
  const running = job();
  for (const state of ['starting', 'running', 'stopping', 'stopped', 'destroyed', 'failed', 'lost', 'unknown'] as const) {
    const [lie] = checkEventClaims([{ ...base, state, host: 'node2' }], [running]);
    t.ok(lie instanceof VeError && lie.code === 'event-claim-mismatch', `${state} from node2 for a job on node1 refused`);
    t.match((lie as VeError).message, new RegExp(`runs on node1, the event claims ${state} on node2`));
    const [truth] = checkEventClaims([{ ...base, state }], [running]);
    t.notOk(truth instanceof VeError, `${state} from node1 passes`);
  }
  // an ended job the batch system still lists keeps its hosts: a destroyed claim from elsewhere is still a lie
  const [ended] = checkEventClaims([{ ...base, state: 'destroyed', host: 'node2' }], [job({ state: 'completed', rawState: 'COMPLETED' })]);
  t.ok(ended instanceof VeError);
  // an earlier start elsewhere (requeued from node2): that host may report its own past
  const [past] = checkEventClaims([{ ...base, state: 'destroyed', host: 'node2', seq: 1_000_032 }], [job({ startCount: 2 })]);
  t.notOk(past instanceof VeError, 'a past run on another host passes');
  // a start that has not happened
  const [future] = checkEventClaims([{ ...base, seq: 5_000_016 }], [running]);
  t.match((future as VeError).message, /has started 1 time\(s\), the event \(seq 5000016\) claims start 5/);
  // a queued job (no hosts) and a forgotten job prove nothing
  t.notOk(checkEventClaims([{ ...base, host: 'node2' }], [job({ state: 'queued', execHosts: [] })])[0] instanceof VeError);
  t.notOk(checkEventClaims([{ ...base, host: 'node2' }], [])[0] instanceof VeError);
  t.end();
});

void t.test('reconcile never writes a VE from a job comment or variable', async (t) => {
  const written: VeRecord[] = [];
  const inventory: Inventory = createFakeInventory({
    getVe: () => Promise.resolve(undefined), listVes: () => Promise.resolve([]),
    createVe: (r) => { written.push(r); return Promise.resolve(); }, updateVe: () => Promise.resolve(true),
    addHistory: () => Promise.resolve(true), listHistory: () => Promise.resolve([]), close: () => Promise.resolve(),
  });
  const forged = encodeVeSpec({ version: 1, name: 'ghost', type: 'kvm', image: 'tiny', vcpus: 4096, memoryMiB: 1_048_576, leaseSeconds: 3600 });
  const batch: Batch = {
    ...createFakeBatch({}), 
    listNodes: () => Promise.resolve([]),
    listJobs: () => Promise.resolve([job({ name: 'sleep', comment: `pbs-ve:${forged}` }), job({ jobId: '43', variables: { VE_SPEC: forged } })]),
  };
  const clock = { now: () => new Date('2026-05-01T10:00:00Z'), sleep: () => Promise.resolve() };
  const drift = await reconcile({ inventory, batch, clock, veQueue: 'batch' }, { dryRun: false });
  t.same(written, [], 'nothing created');
  t.same(drift.map((d) => [d.jobId, d.finding, d.changed]), [['42', 'unknown-to-ldap', false], ['43', 'unknown-to-ldap', false]]);
  t.match(drift[0]?.detail, /only its host's signed events add it/);
});

void t.test('a stored seq past the bound (written before the fix) is reported, not spun on', async (t) => {
  const ve: VeRecord = { jobId: '42', name: 'v', owner: 'user1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running', host: 'node1', domain: 'pbsve-42', seq: Number.MAX_SAFE_INTEGER, lastChange: '2026-05-01T09:00:00.000Z' };
  const inventory: Inventory = createFakeInventory({
    getVe: () => Promise.resolve(ve), listVes: () => Promise.resolve([ve]), createVe: () => Promise.resolve(), updateVe: () => Promise.resolve(true),
    addHistory: () => Promise.resolve(true), listHistory: () => Promise.resolve([]), close: () => Promise.resolve(),
  });
  const batch: Batch = { ...createFakeBatch({}), listNodes: () => Promise.resolve([]), listJobs: () => Promise.resolve([]) };
  const clock = { now: () => new Date('2026-05-01T10:00:00Z'), sleep: () => Promise.resolve() };
  const drift = await reconcile({ inventory, batch, clock, veQueue: 'batch' }, { dryRun: false });
  t.equal(drift.length, 1);
  t.equal(drift[0]?.changed, false);
  t.match(drift[0]?.detail, /stored seq 9007199254740991 is out of range/);
});

void t.test('the prologue checks every bound of ve create again, with the cluster config', (t) => {
  const config = { minMemoryMiB: 16, batch: { maxLeaseSeconds: 86400, maxNodes: 2 }, network: { maxNics: 2 } } as unknown as PbsVeConfig;
  const spec = { version: 1 as const, name: 'vm', type: 'kvm' as const, image: 'tinyvm', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600 };
  t.same(checkSpecAgainstConfig(spec, config), spec);
  t.throws(() => checkSpecAgainstConfig({ ...spec, memoryMiB: 1 }, config), { code: 'invalid-field', field: 'memory' });
  t.throws(() => checkSpecAgainstConfig({ ...spec, leaseSeconds: 86401 }, config), { code: 'invalid-field', field: 'lease' });
  t.throws(() => checkSpecAgainstConfig({ ...spec, nodes: 3 }, config), { code: 'invalid-field', field: 'nodes' });
  t.throws(() => checkSpecAgainstConfig({ ...spec, networks: ['a', 'b', 'c'] }, config), { code: 'invalid-field', field: 'network' });
  t.end();
});

void t.test('a direct-boot kvm image has a memory floor: its kernel and initrd must fit in guest memory', (t) => {
  const image = { name: 'tinyvm', type: 'kvm', format: 'qcow2', path: '/c/base.qcow2', init: [], kernel: '/c/vmlinuz', initrd: '/c/initrd', cmdline: undefined, os: undefined } as ImageManifest;
  const sizes: Record<string, number> = { '/c/vmlinuz': 8 * 1024 * 1024, '/c/initrd': 20 * 1024 * 1024 + 1 };
  t.equal(findImageMemoryFloor(image, (p) => sizes[p] ?? 0), 8 + 21 + 8);
  t.equal(findImageMemoryFloor({ ...image, kernel: undefined, initrd: undefined }), 0, 'boots from its disk: no floor');
  t.equal(findImageMemoryFloor({ ...image, type: 'lxc' }), 0);
  t.end();
});
