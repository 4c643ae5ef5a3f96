import t from 'tap';
import { boundHostFault } from '../../src/prologue/bound-host-fault.js';
import { decideExitCode } from '../../src/core/decide-exit-code.js';
import { VeError } from '../../src/core/ve-error.js';
import type { Batch, BatchJob, PelogContext } from '../../src/batch/batch.js';

const ctx: PelogContext = { jobId: '15.vm', user: 'user1', group: 'user1', jobName: 've-web1', queue: 'batch', host: 'vm', scriptPath: undefined, exitStatus: undefined, resources: undefined, sister: false };

function buildBatch(startCount: number, offline: string[]): Batch {
  const job = { jobId: '15.vm', startCount } as BatchJob;
  const unused = (): never => { throw new Error('not used'); };
  return {
    kind: 'torque', submit: unused, listJobs: unused, cancel: unused, listNodes: unused, requeue: unused, readJobScript: unused,
    getJob: () => Promise.resolve(job),
    setNodeOffline: (node, note) => { offline.push(`${node}: ${note}`); return Promise.resolve(); },
  };
}

void t.test('a host fault requeues (exit 2) while the job has starts left', async (t) => {
  const offline: string[] = [];
  const fault = new VeError('virt-unavailable', 'environment', 'libvirtd does not answer');
  const out = await boundHostFault(fault, ctx, { batch: buildBatch(1, offline), maxStarts: 3, log: () => undefined });
  t.equal(out, fault);
  t.equal(decideExitCode(out, 'torque-prologue'), 2);
  t.same(offline, []);
});

void t.test('at the last start the job is aborted (exit 1) and the node taken offline with a note', async (t) => {
  const offline: string[] = [];
  const fault = new VeError('virt-unavailable', 'environment', 'libvirtd does not answer');
  const out = await boundHostFault(fault, ctx, { batch: buildBatch(3, offline), maxStarts: 3, log: () => undefined });
  t.ok(out instanceof VeError);
  t.equal((out as VeError).code, 'host-fault-retries-exhausted');
  t.equal(decideExitCode(out, 'torque-prologue'), 1);
  t.equal(offline.length, 1);
  t.match(offline[0] ?? '', /^vm: pbs-ve: virt-unavailable on vm \(job 15\.vm\): libvirtd does not answer/);
});

void t.test('bad specs are not host faults: passed through untouched', async (t) => {
  const bad = new VeError('invalid-field', 'prereq', 'vcpus: ...');
  t.equal(await boundHostFault(bad, ctx, { batch: buildBatch(99, []), maxStarts: 3, log: () => undefined }), bad);
});
