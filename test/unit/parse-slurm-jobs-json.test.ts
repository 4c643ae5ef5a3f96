import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  decodeSlurmExitCode,
  mapSlurmJobState,
  parseSlurmJobsJson,
  splitSlurmFeatures,
} from '../../src/batch/parse-slurm-jobs-json.js';

// squeue --json of the sandbox cluster (Slurm 22.05.8): completed, failed, cancelled, pending, held, running jobs
const fixture = readFileSync(new URL('../../../test/fixtures/slurm/squeue.json', import.meta.url), 'utf8');
const jobs = parseSlurmJobsJson(fixture);
const byId = new Map(jobs.map((j) => [j.jobId, j]));

// The job of the fixture with this id (fails the test when missing).
function job(id: string) {
  const found = byId.get(id);
  if (found === undefined) throw new Error(`fixture has no job ${id}`);
  return found;
}

void t.test('parseSlurmJobsJson reads every job of a real dump', (t) => {
  t.same(jobs.map((j) => j.jobId), ['1', '2', '3', '4', '5', '6', '7', '8', '9']);
  t.end();
});

void t.test('a finished two-node job: hosts expanded, exit status decoded, resources', (t) => {
  const j = job('4');
  t.equal(j.name, 'two node');
  t.equal(j.owner, 'pbsve-user1');
  t.equal(j.state, 'completed');
  t.equal(j.rawState, 'FAILED');
  t.equal(j.queue, 'batch');
  t.same(j.execHosts, ['node1', 'node2']);
  t.equal(j.exitStatus, 3);
  t.equal(j.comment, '{"ve":"v1"}');
  t.same(j.resources, { cpus: 2, memoryMiB: 100, walltimeSeconds: 86_400, nodeCount: 2, features: ['kvm', 'lxc'] }, 'memory per node: DefMemPerCPU=100 x 1 cpu per node');
  t.equal(j.startCount, 1);
  t.equal(j.submitTime, 1795435279);
  t.end();
});

void t.test('pending, held and running jobs', (t) => {
  const pending = job('5');
  t.equal(pending.state, 'queued');
  t.same(pending.execHosts, []);
  t.equal(pending.startTime, undefined);
  t.equal(pending.startCount, 0);
  t.equal(pending.exitStatus, undefined);
  t.same(pending.resources, { cpus: 2, memoryMiB: 200, walltimeSeconds: 3600, nodeCount: 2, features: ['kvm', 'lxc'] });
  t.equal(pending.comment, '{"ve":"v2","n":"a\\"b, Name=x"}', 'hostile comment intact');
  t.equal(job('8').startTime, undefined, 'the expected start time of a pending job is not a start time');
  t.equal(job('7').state, 'held');
  t.equal(job('7').rawState, 'PENDING');
  const running = job('6');
  t.equal(running.state, 'running');
  t.equal(running.name, 'evil" JobState=RUNNING\nx', 'hostile name intact');
  t.same(running.execHosts, ['node1']);
  t.equal(running.startTime, 1795435381);
  t.equal(running.startCount, 1);
  t.equal(running.comment, undefined);
  t.equal(job('9').queue, 'vemon');
  t.equal(job('9').resources.walltimeSeconds, undefined, 'INFINITE time limit');
  t.end();
});

void t.test('a cancelled job exits 128+15', (t) => {
  t.equal(job('3').state, 'completed');
  t.equal(job('3').exitStatus, 143);
  t.end();
});

void t.test('mapSlurmJobState', (t) => {
  t.equal(mapSlurmJobState('PENDING', 'Resources', 100), 'queued');
  t.equal(mapSlurmJobState('PENDING', 'JobHeldAdmin', 0), 'held');
  t.equal(mapSlurmJobState('PENDING', 'launch failed requeued held', 0), 'held');
  t.equal(mapSlurmJobState('PENDING', 'BeginTime', 0), 'held', 'priority 0 is a hold');
  t.equal(mapSlurmJobState('REQUEUE_HOLD', '', 0), 'held');
  t.equal(mapSlurmJobState('CONFIGURING', '', 1), 'running');
  t.equal(mapSlurmJobState('RUNNING', '', 1), 'running');
  t.equal(mapSlurmJobState('COMPLETING', '', 1), 'exiting');
  for (const s of ['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL']) {
    t.equal(mapSlurmJobState(s, '', 1), 'completed', s);
  }
  t.equal(mapSlurmJobState('SUSPENDED', '', 1), 'other');
  t.end();
});

void t.test('decodeSlurmExitCode and splitSlurmFeatures', (t) => {
  t.equal(decodeSlurmExitCode(0), 0);
  t.equal(decodeSlurmExitCode(768), 3);
  t.equal(decodeSlurmExitCode(9), 137);
  t.same(splitSlurmFeatures('kvm&lxc'), ['kvm', 'lxc']);
  t.same(splitSlurmFeatures('[kvm|lxc]*2,!x'), ['kvm', 'lxc', 'x']);
  t.same(splitSlurmFeatures(''), []);
  t.end();
});

void t.test('parseSlurmJobsJson refuses what is not a squeue dump', (t) => {
  const isUnparseable = { name: 'VeError', code: 'batch-output-unparseable' };
  t.throws(() => parseSlurmJobsJson('squeue: error: x'), isUnparseable);
  t.throws(() => parseSlurmJobsJson('[]'), isUnparseable);
  t.throws(() => parseSlurmJobsJson('{"jobs": 3}'), isUnparseable);
  t.same(parseSlurmJobsJson('{"jobs": [null, 1, {"name": "no id"}]}'), []);
  t.end();
});

void t.test('a dump that exits 0 but carries errors (slurmctld down) is batch-unavailable, not "no jobs"', (t) => {
  const down = readFileSync(new URL('../../../test/fixtures/slurm/squeue-unreachable.json', import.meta.url), 'utf8');
  t.throws(() => parseSlurmJobsJson(down), { name: 'VeError', code: 'batch-unavailable', kind: 'environment', message: /slurm_load_jobs/ });
  t.end();
});
