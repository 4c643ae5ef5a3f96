// Op jobs for snapshots: the token, the node list on both batch systems, the op script, the result line,
// and the prologue's authorization (owner and host from the batch system, never from the job).
import { makeTempDir } from '../harness/make-temp-dir.js';
import { createFakeVirt } from '../fakes/fake-virt.js';
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { decodeVeOperation, encodeVeOperation, findOperationToken, formatOperationLine, validateSnapshotName } from '../../src/operations/encode-ve-operation.js';
import { parseOpResultOutput, formatOpResultLine, type VeOperationResult } from '../../src/operations/ve-operation-result.js';
import { buildSlurmSbatchArgs } from '../../src/batch/build-slurm-sbatch-args.js';
import { buildTorqueQsubArgs } from '../../src/batch/build-torque-qsub-args.js';
import { buildDefaultSnapshotName, buildOperationJobScript, formatSnapshotTable } from '../../src/operations/submit-ve-operation.js';
import { findOpResultPath, runVeOperation, type VeOperationDeps } from '../../src/operations/run-ve-operation.js';
import { writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import type { Batch, BatchJob, PelogContext, SubmitRequest } from '../../src/batch/batch.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { VeEvent } from '../../src/core/ve-event.js';

const request: SubmitRequest = {
  name: 'veop-web1', queue: 'batch', cpus: 1, memoryMiB: 64, walltimeSeconds: 900, features: [], nodeCount: 1, variables: {}, script: '#!/bin/sh\n',
};

void t.test('operation tokens round-trip and refuse what root must not read', (t) => {
  const op = { kind: 'snapshot', target: '17', snapshot: 's1' } as const;
  t.same(decodeVeOperation(encodeVeOperation(op)), op);
  t.same(decodeVeOperation(encodeVeOperation({ kind: 'list-snapshots', target: '15.server' })), { kind: 'list-snapshots', target: '15.server' });
  const line = formatOperationLine({ kind: 'rollback', target: '17', snapshot: 'a.b-c_d' });
  t.match(line, /^# pbs-ve op v1\.[A-Za-z0-9_-]+$/);
  t.equal(findOperationToken(`#!/bin/sh\n${line}\necho\n`), line.slice('# pbs-ve op '.length));
  t.equal(findOperationToken('#!/bin/sh\n# pbs-ve spec v1.x\n'), undefined);
  const forge = (o: unknown): string => `v1.${Buffer.from(JSON.stringify(o)).toString('base64url')}`;
  for (const bad of [
    { kind: 'snapshot', target: '17', snapshot: '../etc' }, { kind: 'snapshot', target: '17', snapshot: '-x' }, { kind: 'snapshot', target: '17' },
    { kind: 'snapshot', target: '17', snapshot: 'a'.repeat(64) }, { kind: 'snapshot', target: '17; rm', snapshot: 's' }, { kind: 'destroy', target: '17' },
    { kind: 'list-snapshots', target: '17', snapshot: 's' }, [], null,
  ]) t.throws(() => decodeVeOperation(forge(bad)), { name: 'VeError', kind: 'prereq' }, JSON.stringify(bad));
  t.throws(() => decodeVeOperation('v2.abc'), { code: 'invalid-operation-encoding' });
  t.throws(() => decodeVeOperation('v1.a b'), { code: 'invalid-operation-encoding' });
  t.throws(() => decodeVeOperation(`v1.${'A'.repeat(2000)}`), { code: 'invalid-operation-encoding' });
  t.end();
});

void t.test('snapshot names: a directory name and a libvirt name, nothing else', (t) => {
  for (const ok of ['s1', 'S', 'a.b', 'x_y-z', 'a'.repeat(63), 's-20250102-130405']) t.equal(validateSnapshotName(ok), ok);
  for (const bad of ['', '.', '..', '.hidden', '-opt', 'a/b', 'a b', "a'", 'a<b', 'a'.repeat(64), 'é']) {
    t.throws(() => validateSnapshotName(bad), { code: 'invalid-field', field: 'snapshot' }, JSON.stringify(bad));
  }
  t.equal(buildDefaultSnapshotName(new Date('2025-01-02T13:04:05.678Z')), 's-20250102-130405');
  t.end();
});

void t.test('nodeList: Slurm --nodelist, TORQUE nodes=<host>; one plain host per node', (t) => {
  t.ok(buildSlurmSbatchArgs({ ...request, nodeList: ['node1'] }).includes('--nodelist=node1'));
  t.notOk(buildSlurmSbatchArgs(request).some((a) => a.startsWith('--nodelist')), 'absent unless asked');
  t.same(buildSlurmSbatchArgs({ ...request, nodeCount: 2, cpus: 1, nodeList: ['a', 'b'] }).filter((a) => a.startsWith('--nodelist')), ['--nodelist=a,b']);
  const torque = buildTorqueQsubArgs({ ...request, nodeList: ['node1.cluster'] });
  t.equal(torque[torque.indexOf('-l') + 1], 'nodes=node1.cluster:ppn=1,mem=64mb,walltime=00:15:00');
  const torque2 = buildTorqueQsubArgs({ ...request, cpus: 2, nodeCount: 2, features: ['kvm'], nodeList: ['n1', 'n2'] });
  t.match(torque2[torque2.indexOf('-l') + 1], /^nodes=n1:ppn=2:kvm\+n2:ppn=2:kvm,/);
  for (const nodeList of [['node[1-2]'], ['a,b'], ['a b'], [''], ['-x'], ['a', 'b'], []]) {
    t.throws(() => buildSlurmSbatchArgs({ ...request, nodeList }), { code: 'invalid-field', field: 'nodeList' }, `slurm ${JSON.stringify(nodeList)}`);
    t.throws(() => buildTorqueQsubArgs({ ...request, nodeList }), { code: 'invalid-field', field: 'nodeList' }, `torque ${JSON.stringify(nodeList)}`);
  }
  t.throws(() => buildSlurmSbatchArgs({ ...request, nodeCount: 2, cpus: 2, nodeList: ['a', 'a'] }), { name: 'VeError', field: 'nodeList' });
  t.throws(() => buildTorqueQsubArgs({ ...request, nodeCount: 2, cpus: 2, nodeList: ['a+b', 'c'] }), { name: 'VeError', field: 'nodeList' });
  t.end();
});

const config = (stateDir: string): PbsVeConfig => ({ stateDir, minMemoryMiB: 16, batch: { veQueue: 'batch' } } as unknown as PbsVeConfig);

void t.test('the op job script: the op line first, then a body that only prints the prologue\'s result', (t) => {
  const script = buildOperationJobScript({ kind: 'snapshot', target: '17', snapshot: 's1' }, 'web1', config('/var/lib/pbs-ve'));
  const lines = script.split('\n');
  t.equal(lines[0], '#!/bin/sh');
  t.same(decodeVeOperation(findOperationToken(script) ?? ''), { kind: 'snapshot', target: '17', snapshot: 's1' });
  t.match(script, 'f=/var/lib/pbs-ve/jobs/${SLURM_JOB_ID:-$PBS_JOBID}/op-result');
  t.throws(() => buildOperationJobScript({ kind: 'list-snapshots', target: '17' }, 'web1', config('/var/lib/pbs ve')), { code: 'invalid-config' });
  t.end();
});

void t.test('result lines: found among other output, shape-checked', (t) => {
  const ok: VeOperationResult = { ok: true, kind: 'list-snapshots', target: '17', name: 'web1', message: '1 snapshot(s)', state: 'running', snapshots: [{ name: 's1', kind: 'lxc-copy', createdAt: '2025-01-01T00:00:00.000Z', ms: 12 }], ms: 30 };
  t.same(parseOpResultOutput(`slurmstepd: something\n${formatOpResultLine(ok)}`), ok);
  t.equal(parseOpResultOutput('cat: no such file\n'), undefined);
  t.throws(() => parseOpResultOutput('pbs-ve-op-result: {nope'), { code: 'operation-result-unreadable' });
  t.throws(() => parseOpResultOutput('pbs-ve-op-result: {"ok":true,"message":"x"}'), { code: 'operation-result-unreadable' });
  t.match(formatSnapshotTable(ok.snapshots), /^NAME\s+KIND\s+TAKEN\s+MS\ns1\s+lxc-copy\s+2025-01-01T00:00:00.000Z\s+12$/);
  t.equal(formatSnapshotTable([]), '(no snapshots)');
  t.end();
});

// A fake batch system: the only source of truth the prologue may use.
function fakeBatch(jobs: Record<string, Partial<BatchJob>>): Batch {
  const full = (id: string): BatchJob | undefined => {
    const j = jobs[id];
    if (j === undefined) return undefined;
    return {
      jobId: id, name: 'x', owner: 'alice', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {}, comment: undefined,
      resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 600, nodeCount: 1, features: [] }, startCount: 1, exitStatus: undefined, submitTime: undefined, startTime: undefined, ...j,
    };
  };
  return { getJob: (id: string) => Promise.resolve(full(id)) } as unknown as Batch;
}

function setup(t: { teardown: (fn: () => void) => void }, jobs: Record<string, Partial<BatchJob>>, user = 'alice'): { ctx: PelogContext; deps: VeOperationDeps; events: VeEvent[]; stateDir: string } {
  const stateDir = makeTempDir(join(tmpdir(), 'pbsve-op-'));
  t.teardown(() => { /* temp dirs are left to the OS */ });
  const record: VeJobRecord = {
    jobId: '17', owner: 'alice', host: 'node1', domain: 'pbsve-17', uri: 'lxc:///system', roUri: 'lxc:///system', startCount: 1, status: 'realized', reason: 'domain running', emulated: false,
    spec: { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 },
  };
  writeVeJobRecord(stateDir, record);
  const virt = createFakeVirt();
  virt.domains.set('pbsve-17', { state: 'running', reason: 'booted', persistent: true, xml: '<domain/>', saved: false });
  const events: VeEvent[] = [];
  const ctx: PelogContext = { jobId: '20', user, group: undefined, jobName: undefined, queue: 'batch', host: 'node1', scriptPath: undefined, exitStatus: undefined, resources: undefined, sister: false };
  const deps: VeOperationDeps = {
    batch: fakeBatch(jobs), config: config(stateDir), clock: { now: () => new Date(0), sleep: () => Promise.resolve() },
    events: { emit: (e: readonly VeEvent[]) => { events.push(...e); return Promise.resolve(); } } as unknown as VeOperationDeps['events'],
    log: () => undefined, findOwner: () => Promise.resolve({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }), scheduleTimeLimit: () => undefined, scheduleMove: () => undefined,
    snapshots: {
      stateDir, openVirt: () => Promise.resolve(virt), log: () => undefined, startTimeoutMs: 1000, now: () => new Date(0),
      console: { prepareLog: () => Promise.resolve() },
    },
  };
  return { ctx, deps, events, stateDir };
}

const listToken = encodeVeOperation({ kind: 'list-snapshots', target: '17' });
const snapToken = encodeVeOperation({ kind: 'snapshot', target: '17', snapshot: 's1' });

void t.test('the prologue acts only for the owner of the VE job running on this host', async (t) => {
  const cases: [string, Record<string, Partial<BatchJob>>, string, RegExp][] = [
    ['another owner\'s VE', { 20: { owner: 'mallory' }, 17: {} }, 'mallory', /is not yours \(mallory\)/],
    ['VE on another host', { 20: {}, 17: { execHosts: ['node2'] } }, 'alice', /does not run on node1/],
    ['VE job not running', { 20: {}, 17: { state: 'queued', rawState: 'PENDING', execHosts: [] } }, 'alice', /not running/],
    ['unknown VE job', { 20: {} }, 'alice', /not known/],
    ['op job owner differs from the prologue user', { 20: { owner: 'alice' }, 17: {} }, 'mallory', /is not the prologue's user/],
  ];
  for (const [what, jobs, user, why] of cases) {
    const { ctx, deps, events, stateDir } = setup(t, jobs, user);
    const result = await runVeOperation(ctx, snapToken, deps);
    t.equal(result.ok, false, what);
    t.match(result.ok ? '' : result.message, why, what);
    t.same(events, [], `${what}: no event`);
    t.throws(() => statSync(join(stateDir, 'jobs/17/snapshots')), { code: 'ENOENT' }, `${what}: nothing taken`);
    t.match(readFileSync(findOpResultPath(stateDir, '20'), 'utf8'), /^pbs-ve-op-result: \{"ok":false,"code":"permission-denied"/, `${what}: the owner is told`);
  }
  const { ctx, deps } = setup(t, { 20: {}, 17: {} });
  const bad = await runVeOperation(ctx, 'v1.!!', deps);
  t.match(bad, { ok: false, code: 'invalid-operation-encoding', errorKind: 'prereq' }, 'a bad token is an outcome, not a thrown error');
  const listed = await runVeOperation(ctx, listToken, deps);
  t.match(listed, { ok: true, kind: 'list-snapshots', name: 'web1', snapshots: [] }, 'the owner may list');
  const root = setup(t, { 20: { owner: 'root' }, 17: {} }, 'root');
  t.match(await runVeOperation(root.ctx, listToken, root.deps), { ok: true }, 'root may act on every VE');
});

