import { readFileSync } from 'node:fs';
import t from 'tap';
import type { CommandOptions, CommandResult, RunCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import type { SubmitRequest } from '../../src/batch/batch.js';
import { createSlurmBatch, sanitizeSlurmReason } from '../../src/batch/slurm-batch.js';

const read = (name: string) => readFileSync(new URL(`../../../test/fixtures/slurm/${name}`, import.meta.url), 'utf8');

interface Call {
  readonly file: string;
  readonly args: readonly string[];
  readonly options: CommandOptions | undefined;
}

// A RunCommand that records every call and answers from a table keyed by the command's base name.
function fakeRun(answers: Record<string, Partial<CommandResult> | Error>): { run: RunCommand; calls: Call[] } {
  const calls: Call[] = [];
  const run: RunCommand = (file, args, options) => {
    calls.push({ file, args, options });
    const answer = answers[file.split('/').pop() ?? file];
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0, ...answer });
  };
  return { run, calls };
}

const request: SubmitRequest = {
  name: 've-1',
  queue: 'batch',
  cpus: 1,
  memoryMiB: undefined,
  walltimeSeconds: 600,
  features: ['lxc'],
  nodeCount: 1,
  variables: { VE_ID: 've-1' },
  script: '#!/bin/sh\ntrue\n',
};

void t.test('submit runs sbatch from binDir with the script on stdin and SLURM_CONF', async (t) => {
  const { run, calls } = fakeRun({ sbatch: { stdout: '42\n' } });
  const batch = createSlurmBatch({ run, slurmConf: '/x/slurm.conf', binDir: '/opt/slurm/bin', timeoutMs: 5000 });
  t.equal(await batch.submit(request), '42');
  t.equal(calls[0]?.file, '/opt/slurm/bin/sbatch');
  t.same(calls[0]?.args, [
    '--parsable',
    '--job-name=ve-1',
    '--partition=batch',
    '--nodes=1',
    '--ntasks=1',
    '--cpus-per-task=1',
    '--time=0-00:10:00',
    '--constraint=lxc',
    '--export=NONE,VE_ID=ve-1',
  ]);
  t.same(calls[0]?.options, { env: { SLURM_CONF: '/x/slurm.conf' }, timeoutMs: 5000, input: request.script });
  const federated = fakeRun({ sbatch: { stdout: '43;cluster2\n' } });
  t.equal(await createSlurmBatch({ run: federated.run }).submit(request), '43');
});

void t.test('submit: a refused request is prereq with Slurm\'s words, an unreachable controller is environment', async (t) => {
  const refused = fakeRun({
    sbatch: { exitCode: 1, stderr: 'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n' },
  });
  const err = (await createSlurmBatch({ run: refused.run }).submit(request).catch((e: unknown) => e)) as VeError;
  t.ok(err instanceof VeError);
  t.equal(err.code, 'batch-rejected');
  t.equal(err.kind, 'prereq');
  t.match(err.message, /Invalid partition name specified/);

  const down = fakeRun({ sbatch: { exitCode: 1, stderr: 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n' } });
  await t.rejects(createSlurmBatch({ run: down.run }).submit(request), { code: 'batch-unavailable', kind: 'environment' });

  const timeout = fakeRun({ sbatch: new VeError('command-timeout', 'environment', 'sbatch: no answer') });
  await t.rejects(createSlurmBatch({ run: timeout.run }).submit(request), { code: 'batch-unavailable', kind: 'environment' });

  const garbage = fakeRun({ sbatch: { stdout: 'Submitted batch job 5\n' } });
  await t.rejects(createSlurmBatch({ run: garbage.run }).submit(request), { code: 'batch-output-unparseable' });

  const bad = fakeRun({});
  await t.rejects(createSlurmBatch({ run: bad.run }).submit({ ...request, variables: { VE_ID: 'a,b' } }), { code: 'invalid-field', field: 'variables.VE_ID' });
  t.equal(bad.calls.length, 0, 'refused before sbatch runs');
});

void t.test('getJob and listJobs read squeue --json and filter themselves', async (t) => {
  const { run, calls } = fakeRun({ squeue: { stdout: read('squeue.json') } });
  const batch = createSlurmBatch({ run });
  const job = await batch.getJob('6');
  t.equal(job?.state, 'running');
  t.same(calls[0]?.args, ['--json']);
  t.equal(await batch.getJob('12345'), undefined, 'unknown id');
  t.same((await batch.listJobs({ queue: 'vemon' })).map((j) => j.jobId), ['3', '9']);
  t.same((await batch.listJobs({ owner: 'pbsve-user1' })).map((j) => j.jobId), ['2', '4', '8']);
  t.same((await batch.listJobs({ owner: 'pbsve-user1', queue: 'vemon' })).map((j) => j.jobId), []);
  t.equal((await batch.listJobs()).length, 9);
  await t.rejects(batch.getJob('6 --all'), { code: 'invalid-field', kind: 'prereq' });
  const down = fakeRun({ squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n' } });
  await t.rejects(createSlurmBatch({ run: down.run }).getJob('1'), { code: 'batch-unavailable', kind: 'environment' });
  const silent = fakeRun({ squeue: { stdout: read('squeue-unreachable.json') } });
  await t.rejects(createSlurmBatch({ run: silent.run }).listJobs(), { code: 'batch-unavailable', kind: 'environment' }, 'exit 0 with errors');
});

void t.test('listNodes joins sinfo --json with the running jobs', async (t) => {
  const { run } = fakeRun({ squeue: { stdout: read('squeue.json') }, sinfo: { stdout: read('sinfo.json') } });
  const nodes = await createSlurmBatch({ run }).listNodes();
  t.same(nodes.map((n) => [n.name, n.state, n.jobIds]), [
    ['mon1', 'free', ['9']],
    ['node1', 'busy', ['6']],
    ['node2', 'offline', []],
  ]);
});

void t.test('listings asked at once share one squeue, never across a change or after it ended', async (t) => {
  const { run, calls } = fakeRun({ squeue: { stdout: read('squeue.json') }, sinfo: { stdout: read('sinfo.json') }, sbatch: { stdout: '77\n' }, scancel: {} });
  const batch = createSlurmBatch({ run });
  const squeues = (): number => calls.filter((c) => c.file === 'squeue').length;
  // ve create's name check and node listing, side by side
  const [mine, nodes, one] = await Promise.all([batch.listJobs({ owner: 'pbsve-user1' }), batch.listNodes(), batch.getJob('6')]);
  t.same(mine.map((j) => j.jobId), ['2', '4', '8']);
  t.equal(nodes.length, 3);
  t.equal(one?.state, 'running');
  t.equal(squeues(), 1, 'one squeue for three listings asked at once');
  await batch.listJobs();
  t.equal(squeues(), 2, 'a listing asked after the shared one ended runs its own');
  // a change made while a listing runs: the next listing must not join the one started before it
  let open = (): void => undefined;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const slow: RunCommand = async (file, args, options) => {
    if (file === 'squeue' && calls.filter((c) => c.file === 'squeue').length === 2) { calls.push({ file, args, options }); await gate; return { stdout: read('squeue.json'), stderr: '', exitCode: 0 }; }
    return run(file, args, options);
  };
  const held = createSlurmBatch({ run: slow });
  const before = held.listJobs();
  t.equal(squeues(), 3, 'the held listing runs');
  await held.submit(request);
  const after = held.listJobs();
  t.equal(squeues(), 4, 'a listing asked after sbatch does not join the one started before it');
  const joined = held.getJob('6');
  t.equal(squeues(), 4, 'but one asked beside it joins it');
  open();
  await Promise.all([before, after, joined]);
  const stale = held.listJobs();
  await held.cancel('6');
  await Promise.all([stale, held.getJob('6')]);
  t.equal(squeues(), 6, 'scancel in between: two squeues');
  // a failed listing is every sharer's failure, and the next one asks again
  const down = fakeRun({ squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n' } });
  const flaky = createSlurmBatch({ run: down.run });
  const results = await Promise.allSettled([flaky.listJobs(), flaky.getJob('1')]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected']);
  await t.rejects(flaky.listJobs(), { code: 'batch-unavailable' });
  t.equal(down.calls.length, 2);
});

void t.test('setNodeOffline drains with a one-line reason; refuses hostlists', async (t) => {
  const { run, calls } = fakeRun({ scontrol: {} });
  const batch = createSlurmBatch({ run });
  await batch.setNodeOffline('node2', 'pbs-ve: libvirt "down"\nsecond line');
  t.same(calls[0]?.args, ['update', 'NodeName=node2', 'State=DRAIN', "Reason=pbs-ve: libvirt 'down' second line"]);
  await t.rejects(batch.setNodeOffline('node[1-2]', 'x'), { code: 'invalid-field', field: 'node' });
  await t.rejects(batch.setNodeOffline('node1,node2', 'x'), { code: 'invalid-field' });
  t.equal(sanitizeSlurmReason('  '), 'pbs-ve');
  const unknown = fakeRun({ scontrol: { exitCode: 1, stderr: 'slurm_update error: Invalid node name specified\n' } });
  await t.rejects(createSlurmBatch({ run: unknown.run }).setNodeOffline('nodeX', 'x'), { code: 'batch-node-unknown', kind: 'prereq' });
});

void t.test('cancel and requeue', async (t) => {
  const { run, calls } = fakeRun({ scancel: {}, scontrol: {} });
  const batch = createSlurmBatch({ run });
  await batch.cancel('7');
  await batch.requeue('8');
  t.same(calls.map((c) => [c.file, ...c.args]), [
    ['scancel', '7'],
    ['scontrol', 'requeue', '8'],
  ]);
  await t.rejects(batch.cancel('-u root'), { code: 'invalid-field' });
  const unknown = fakeRun({ scontrol: { exitCode: 1, stderr: 'Invalid job id specified for job 999\n' } });
  await t.rejects(createSlurmBatch({ run: unknown.run }).requeue('999'), { code: 'batch-job-unknown', kind: 'prereq' });
  const pending = fakeRun({ scontrol: { exitCode: 1, stderr: 'Job is pending execution for job 5\n' } });
  await t.rejects(createSlurmBatch({ run: pending.run }).requeue('5'), { code: 'batch-command-failed', kind: 'exec' });
});

void t.test('readJobScript: the script, undefined for unknown jobs (exit 0 with an error!), denied for non-root', async (t) => {
  const ok = fakeRun({ scontrol: { stdout: '#!/bin/sh\necho hi\n' } });
  t.equal(await createSlurmBatch({ run: ok.run }).readJobScript('5'), '#!/bin/sh\necho hi\n');
  t.same(ok.calls[0]?.args, ['write', 'batch_script', '5', '-']);
  const gone = fakeRun({ scontrol: { stderr: 'job script retrieval failed: Invalid job id specified\n' } });
  t.equal(await createSlurmBatch({ run: gone.run }).readJobScript('999'), undefined);
  const denied = fakeRun({ scontrol: { stderr: 'job script retrieval failed: Invalid user id\n' } });
  await t.rejects(createSlurmBatch({ run: denied.run }).readJobScript('5'), { code: 'batch-permission-denied', kind: 'prereq' });
  const down = fakeRun({ scontrol: { exitCode: 1, stderr: 'scontrol: error: Unable to contact slurm controller (connect failure)\n' } });
  await t.rejects(createSlurmBatch({ run: down.run }).readJobScript('5'), { code: 'batch-unavailable' });
});
