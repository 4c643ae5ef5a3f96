import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boundHostFault, type BoundHostFaultDeps } from '../../src/prologue/bound-host-fault.js';
import { decideExitCode, isPrologueRetried } from '../../src/core/decide-exit-code.js';
import { readVeHostFaults } from '../../src/host/ve-host-faults.js';
import { VeError } from '../../src/core/ve-error.js';
import type { Batch, BatchJob, PelogContext } from '../../src/batch/batch.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const ctx: PelogContext = { jobId: '15.vm', user: 'user1', group: 'user1', jobName: 've-web1', queue: 'batch', host: 'vm', scriptPath: undefined, exitStatus: undefined, resources: undefined, sister: false };
const fault = new VeError('virt-unavailable', 'environment', 'libvirtd does not answer');

function buildBatch(startCount: number, offline: string[]): Batch {
  const job = { jobId: '15.vm', startCount } as BatchJob;
  return {
    ...createFakeBatch({}), 
    getJob: () => Promise.resolve(job),
    setNodeOffline: (node, note) => { offline.push(`${node}: ${note}`); return Promise.resolve(); },
  };
}

function buildDeps(t: Test, startCount: number, offline: string[]): BoundHostFaultDeps {
  const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-bound-'));
  t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
  return { batch: buildBatch(startCount, offline), maxStarts: 3, stateDir, clock: { now: () => new Date('2026-12-02T05:00:00Z'), sleep: () => Promise.resolve() }, log: () => undefined };
}

void t.test('host faults requeue (exit 2) until the job met maxStarts of them, then abort (exit 1) and take the node offline', async (t) => {
  const offline: string[] = [];
  const deps = buildDeps(t, 1, offline);
  for (const n of [1, 2]) {
    const out = await boundHostFault(fault, ctx, deps);
    t.equal(out, fault, `fault ${n}: retried`);
    t.equal(decideExitCode(out, 'torque-prologue'), 2);
    t.ok(isPrologueRetried(out, 'torque-prologue'));
  }
  t.same(offline, []);
  const out = await boundHostFault(fault, ctx, deps);
  t.ok(out instanceof VeError);
  t.equal((out as VeError).code, 'host-fault-retries-exhausted');
  t.match((out as VeError).message, /host fault 3 of at most 3/);
  t.equal(decideExitCode(out, 'torque-prologue'), 1);
  t.notOk(isPrologueRetried(out, 'torque-prologue'));
  t.equal(offline.length, 1);
  t.match(offline[0] ?? '', /^vm: pbs-ve: virt-unavailable on vm \(job 15\.vm\): libvirtd does not answer/);
  t.same(readVeHostFaults(deps.stateDir, '15.vm').map((f) => [f.host, f.code, f.startCount]), [['vm', 'virt-unavailable', 1], ['vm', 'virt-unavailable', 1], ['vm', 'virt-unavailable', 1]]);
});

// Issue 9, defect 10: TORQUE's start_count also rises with qrerun and failed sends (9 seen live).
void t.test('the first host fault after requeues (start_count 9) is retried, not an abort of a healthy job', async (t) => {
  const offline: string[] = [];
  const out = await boundHostFault(fault, ctx, buildDeps(t, 9, offline));
  t.equal(out, fault);
  t.equal(decideExitCode(out, 'torque-prologue'), 2);
  t.same(offline, [], 'no node taken offline');
});

void t.test('bad specs are not host faults: passed through untouched and not counted', async (t) => {
  const bad = new VeError('invalid-field', 'prereq', 'vcpus: ...');
  const deps = buildDeps(t, 99, []);
  t.equal(await boundHostFault(bad, ctx, deps), bad);
  t.same(readVeHostFaults(deps.stateDir, '15.vm'), []);
  t.notOk(isPrologueRetried(bad, 'torque-prologue'));
  t.notOk(isPrologueRetried(bad, 'slurm-prolog'), 'Slurm: the Prolog exits 0 and the job body tells the owner');
  t.ok(isPrologueRetried(fault, 'slurm-prolog'), 'Slurm requeues after a failing Prolog');
});
