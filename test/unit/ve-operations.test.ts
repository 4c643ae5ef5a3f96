// The operation path on the host: stop, start, restart, suspend and resume through the transition table,
// the owner's wish in the record (job body and recovery leave the VE alone), one event per transition.
import t from 'tap';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeTempDir } from '../harness/make-temp-dir.js';
import { createFakeVirt, type FakeVirt } from '../fakes/fake-virt.js';
import { createFakeBatch } from '../fakes/fake-batch.js';
import { encodeVeOperation, decodeVeOperation, validateVeOperation, type VeOperation } from '../../src/operations/encode-ve-operation.js';
import { checkVeTransition, VE_TRANSITIONS, VE_OPERATION_KINDS } from '../../src/operations/ve-transitions.js';
import { findHostVeState, runVeOperation, type VeOperationDeps } from '../../src/operations/run-ve-operation.js';
import { readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import { findVeStateChanges } from '../../src/mom-hooks/find-ve-state-changes.js';
import { VE_STATES } from '../../src/core/ve-state.js';
import type { PelogContext } from '../../src/batch/batch.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { VeEvent } from '../../src/core/ve-event.js';

function config(stateDir: string): PbsVeConfig {
  return { stateDir, virt: { startTimeoutMs: 1000 } } as unknown as PbsVeConfig;
}

const PTY_XML = "<domain><name>pbsve-17</name><devices><console type='pty'><source path='/dev/pts/7'/></console></devices></domain>";

interface Host { ctx: PelogContext; deps: VeOperationDeps; events: VeEvent[]; stateDir: string; virt: FakeVirt; console: string[] }

function setupHost(type: 'lxc' | 'qemu' = 'lxc'): Host {
  const stateDir = makeTempDir(join(tmpdir(), 'pbsve-ops-'));
  const record: VeJobRecord = {
    jobId: '17', owner: 'alice', host: 'node1', domain: 'pbsve-17', uri: `${type}:///system`, roUri: `${type}:///system`, startCount: 1, status: 'realized', reason: 'domain running', emulated: false,
    spec: { version: 1, name: 'web1', type: type === 'lxc' ? 'lxc' : 'kvm', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 },
  };
  writeVeJobRecord(stateDir, record);
  const virt = createFakeVirt();
  virt.domains.set('pbsve-17', { state: 'running', reason: 'booted', persistent: true, xml: PTY_XML, saved: false });
  const events: VeEvent[] = [];
  const consoleCalls: string[] = [];
  const ctx: PelogContext = { jobId: '20', user: 'alice', group: undefined, jobName: undefined, queue: 'batch', host: 'node1', scriptPath: undefined, exitStatus: undefined, resources: undefined, sister: false };
  const batch = createFakeBatch({ 20: {}, 17: {} });
  const deps: VeOperationDeps = {
    batch, config: config(stateDir), clock: { now: () => new Date(0), sleep: () => Promise.resolve() },
    events: { emit: (e: readonly VeEvent[]) => { events.push(...e); return Promise.resolve(); } } as unknown as VeOperationDeps['events'],
    log: () => undefined, findOwner: () => Promise.resolve({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }),
    scheduleTimeLimit: (jobId, seconds) => { void batch.setTimeLimit(jobId, seconds); },
    scheduleMove: (jobId, host) => { void batch.moveJob(jobId, host); },
    snapshots: {
      stateDir, openVirt: () => Promise.resolve(virt), log: () => undefined, startTimeoutMs: 1000, now: () => new Date(0),
      console: {
        prepareLog: () => { consoleCalls.push('prepare'); return Promise.resolve(); },
      },
    },
  };
  return { ctx, deps, events, stateDir, virt, console: consoleCalls };
}

const run = (h: Host, op: Omit<VeOperation, 'target'>): ReturnType<typeof runVeOperation> => runVeOperation(h.ctx, encodeVeOperation({ ...op, target: '17' }), h.deps);

void t.test('the transition table: every operation, every state', (t) => {
  t.same([...VE_OPERATION_KINDS].sort(), Object.keys(VE_TRANSITIONS).sort());
  t.equal(checkVeTransition('stop', 'running', 'web1'), 'stopped');
  t.equal(checkVeTransition('stop', 'suspended', 'web1'), 'stopped');
  t.equal(checkVeTransition('start', 'stopped', 'web1'), 'running');
  t.equal(checkVeTransition('suspend', 'running', 'web1'), 'suspended');
  t.equal(checkVeTransition('resume', 'suspended', 'web1'), 'running');
  t.throws(() => checkVeTransition('start', 'running', 'web1'), { code: 've-wrong-state', kind: 'prereq', field: 'name', message: /VE "web1" is running; start needs it stopped/ });
  // nothing runs on a VE that is gone, failed, pending or moving
  for (const state of ['destroyed', 'failed', 'lost', 'pending', 'migrating', 'unknown', 'starting', 'stopping'] as const) {
    for (const kind of VE_OPERATION_KINDS) t.throws(() => checkVeTransition(kind, state, 'web1'), { code: 've-wrong-state' }, `${kind} from ${state}`);
  }
  for (const { from } of Object.values(VE_TRANSITIONS)) for (const s of from) t.ok((VE_STATES as readonly string[]).includes(s));
  t.end();
});

void t.test('operation data: each kind takes its own arguments, bounded', (t) => {
  t.same(decodeVeOperation(encodeVeOperation({ kind: 'stop', target: '17', force: true, timeoutSeconds: 5 })), { kind: 'stop', target: '17', force: true, timeoutSeconds: 5 });
  t.same(decodeVeOperation(encodeVeOperation({ kind: 'suspend', target: '17.vm', toDisk: true })), { kind: 'suspend', target: '17.vm', toDisk: true });
  t.throws(() => validateVeOperation({ kind: 'start', target: '17', force: true }), { code: 'invalid-field', field: 'force', message: /not an argument of start/ });
  t.throws(() => validateVeOperation({ kind: 'stop', target: '17', timeoutSeconds: 0 }), { code: 'invalid-field', field: 'timeout' });
  t.throws(() => validateVeOperation({ kind: 'stop', target: '17', timeoutSeconds: 1e9 }), { code: 'invalid-field', field: 'timeout' });
  t.throws(() => validateVeOperation({ kind: 'stop', target: '17', timeoutSeconds: 1.5 }), { code: 'invalid-field', field: 'timeout' });
  t.throws(() => validateVeOperation({ kind: 'restart', target: '17', hard: 'yes' }), { code: 'invalid-field', field: 'hard', message: /true or false/ });
  t.throws(() => validateVeOperation({ kind: 'resume', target: '17', snapshot: 's1' }), { code: 'invalid-field', field: 'snapshot' });
  t.end();
});

void t.test('the host state: libvirt read with the owner\'s wish', (t) => {
  t.equal(findHostVeState({}, { state: 'running', reason: 'booted' }), 'running');
  t.equal(findHostVeState({}, { state: 'paused', reason: 'user' }), 'suspended');
  t.equal(findHostVeState({ ownerState: 'suspended' }, { state: 'shutoff', reason: 'saved' }), 'suspended');
  t.equal(findHostVeState({ ownerState: 'stopped' }, { state: 'shutoff', reason: 'shutdown' }), 'stopped');
  t.equal(findHostVeState({}, { state: 'shutoff', reason: 'destroyed' }), 'stopped');
  t.equal(findHostVeState({}, undefined), undefined);
  t.end();
});

void t.test('stop, start, suspend, resume, restart: libvirt, the record and one event each', async (t) => {
  const h = setupHost();
  const stop = await run(h, { kind: 'stop', timeoutSeconds: 5 });
  t.match(stop, { ok: true, kind: 'stop', state: 'stopped', message: /shut down by the guest/ });
  t.equal(h.virt.domains.get('pbsve-17')?.state, 'shutoff');
  t.equal(readVeJobRecord(h.stateDir, '17')?.ownerState, 'stopped', 'the record says stopped by its owner');
  t.equal(readVeJobRecord(h.stateDir, '17')?.status, 'realized', 'the VE still exists: its job, lease and disks stay');
  t.ok(h.virt.domains.has('pbsve-17'), 'still defined');
  t.match(await run(h, { kind: 'stop' }), { ok: false, code: 've-wrong-state', message: /is stopped; stop needs it running or suspended/ });
  const start = await run(h, { kind: 'start' });
  t.match(start, { ok: true, state: 'running', message: /started/ });
  t.equal(readVeJobRecord(h.stateDir, '17')?.ownerState, undefined);
  t.notOk(h.console.includes('prepare'), 'an LXC console is the host watcher\'s to follow: its start leaves the log alone');
  t.match(await run(h, { kind: 'suspend' }), { ok: true, state: 'suspended' });
  t.equal(h.virt.domains.get('pbsve-17')?.state, 'paused');
  t.match(await run(h, { kind: 'suspend' }), { ok: false, code: 've-wrong-state' });
  t.match(await run(h, { kind: 'resume' }), { ok: true, state: 'running', message: 'resumed' });
  t.match(await run(h, { kind: 'restart', hard: true }), { ok: true, state: 'running', message: /destroyed and started again/ });
  t.equal(readVeJobRecord(h.stateDir, '17')?.ownerState, undefined, 'a hard restart leaves the owner\'s wish as it was');
  t.match(await run(h, { kind: 'restart' }), { ok: true, message: /restarted \(shut down by the guest in [0-9]+ ms\) and started again/ });
  t.same(h.events.map((e) => `${e.state}:${e.source}`), ['stopped:operation', 'running:operation', 'suspended:operation', 'running:operation', 'running:operation', 'running:operation']);
  t.same(h.virt.calls.filter((c) => !c.startsWith('define')), ['shutdown pbsve-17', 'start pbsve-17', 'suspend pbsve-17', 'resume pbsve-17', 'destroy pbsve-17', 'start pbsve-17', 'shutdown pbsve-17', 'start pbsve-17']);
});

void t.test('stop: the guest gets its timeout, then the domain is destroyed; --force at once', async (t) => {
  const h = setupHost();
  const deaf = createFakeVirt({ shutdownDomain: () => Promise.resolve() });
  deaf.domains.set('pbsve-17', { state: 'running', reason: 'booted', persistent: true, xml: '<domain/>', saved: false });
  h.deps = { ...h.deps, snapshots: { ...h.deps.snapshots, openVirt: () => Promise.resolve(deaf) } };
  t.match(await run(h, { kind: 'stop', timeoutSeconds: 1 }), { ok: true, state: 'stopped', message: /did not shut down within 1 s: destroyed/ });
  t.equal(deaf.domains.get('pbsve-17')?.state, 'shutoff');
  const f = setupHost();
  t.match(await run(f, { kind: 'stop', force: true }), { ok: true, message: /destroyed at once/ });
  t.same(f.virt.calls, ['destroy pbsve-17']);
});

void t.test('a failed action puts the owner\'s previous wish back', async (t) => {
  const h = setupHost();
  const broken = createFakeVirt({ suspendDomain: () => Promise.reject(new Error('cgroup freezer unavailable')) });
  broken.domains.set('pbsve-17', { state: 'running', reason: 'booted', persistent: true, xml: '<domain/>', saved: false });
  h.deps = { ...h.deps, snapshots: { ...h.deps.snapshots, openVirt: () => Promise.resolve(broken) } };
  t.match(await run(h, { kind: 'suspend' }), { ok: false, message: /cgroup freezer unavailable/ });
  t.equal(readVeJobRecord(h.stateDir, '17')?.ownerState, undefined);
  t.same(h.events, [], 'nothing happened, nothing reported');
});

void t.test('suspend --to-disk (QEMU): saved, shut off, still suspended; resume restores', async (t) => {
  const h = setupHost('qemu');
  t.match(await run(h, { kind: 'suspend', toDisk: true }), { ok: true, state: 'suspended', message: /saved to disk/ });
  t.equal(h.virt.domains.get('pbsve-17')?.state, 'shutoff');
  t.match(await run(h, { kind: 'resume' }), { ok: true, state: 'running', message: /from its saved memory/ });
  t.equal(h.virt.domains.get('pbsve-17')?.reason, 'restored');
});

void t.test('the periodic host report reads libvirt with the owner\'s wish: paused is suspended, never stopped', (t) => {
  const record = (ownerState?: 'stopped' | 'suspended'): VeJobRecord => ({
    jobId: '17', owner: 'alice', host: 'node1', domain: 'pbsve-17', uri: 'lxc:///system', roUri: 'lxc:///system', startCount: 1, status: 'realized', reason: '', emulated: false,
    spec: { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 }, ...(ownerState === undefined ? {} : { ownerState }),
  });
  const seen = (r: VeJobRecord, state: 'paused' | 'shutoff'): unknown => findVeStateChanges([r], [{ name: 'pbsve-17', state, persistent: true }], new Map()).changes.map((c) => [c.state, c.reason]);
  t.same(seen(record(), 'paused'), [['suspended', 'domain paused behind pbs-ve']]);
  t.same(seen(record('suspended'), 'paused'), [['suspended', 'suspended by its owner']]);
  t.same(seen(record('stopped'), 'shutoff'), [['stopped', 'stopped by its owner']]);
  t.same(seen(record('suspended'), 'shutoff'), [['suspended', 'saved to disk by its owner']]);
  t.same(seen(record(), 'shutoff'), [['stopped', 'guest powered off']]);
  t.end();
});

void t.test('extend: the batch system\'s limit plus the owner\'s extra, within the site\'s maximum', async (t) => {
  const h = setupHost();
  h.deps = { ...h.deps, config: { ...h.deps.config, batch: { maxLeaseSeconds: 7200 } } as unknown as PbsVeConfig };
  t.match(await run(h, { kind: 'extend', addSeconds: 3600 }), { ok: true, state: 'running', message: 'lease extended from 00:10:00 to 01:10:00' });
  t.same((h.deps.batch as ReturnType<typeof createFakeBatch>).calls, ['limit 17 4200']);
  t.match(await run(h, { kind: 'extend', addSeconds: 3600 }), { ok: false, code: 'lease-too-long', errorKind: 'prereq', message: /lease: 4200 s \+ 3600 s = 7800 s is more than the site's maximum lease of 7200 s/ });
  t.throws(() => validateVeOperation({ kind: 'extend', target: '17', addSeconds: 5 }), { code: 'invalid-field', field: 'lease' });
  t.throws(() => validateVeOperation({ kind: 'extend', target: '17' }), { code: 'invalid-field', field: 'lease' });
  t.same(h.events.map((e) => e.state), ['running'], 'one event: the lease change is in the history');
});
