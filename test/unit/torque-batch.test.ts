import t from 'tap';
import { readFileSync } from 'node:fs';
import type { SubmitRequest } from '../../src/batch/batch.js';
import { buildTorqueQsubArgs } from '../../src/batch/build-torque-qsub-args.js';
import { createTorqueBatch } from '../../src/batch/torque-batch.js';
import type { CommandOptions, CommandResult, RunCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';

const FIXTURES = new URL('../../../test/fixtures/torque/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

const ok = (stdout: string): CommandResult => ({ stdout, stderr: '', exitCode: 0 });
const failed = (stderr: string, exitCode: number): CommandResult => ({ stdout: '', stderr, exitCode });

// The error fixtures are the client's message followed by a line rc=N with its exit code.
function errorFixture(name: string): CommandResult {
  const lines = fixture(name).trimEnd().split('\n');
  const rc = /^rc=(-?[0-9]+)$/.exec(lines.pop() ?? '');
  if (rc === null) throw new Error(`${name}: no rc line`);
  return failed(`${lines.join('\n')}\n`, Number(rc[1]));
}

interface Call {
  readonly file: string;
  readonly args: readonly string[];
  readonly options: CommandOptions | undefined;
}

// A RunCommand that hands out prepared results in order and remembers what it was asked to run.
function fakeRun(...results: (CommandResult | Error)[]): { run: RunCommand; calls: Call[] } {
  const calls: Call[] = [];
  const run: RunCommand = (file, args, options) => {
    calls.push({ file, args, options });
    const next = results.shift();
    if (next === undefined) return Promise.reject(new Error(`unexpected call ${file} ${args.join(' ')}`));
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(next);
  };
  return { run, calls };
}

const request: SubmitRequest = {
  name: 've-web1',
  queue: 'batch',
  cpus: 2,
  memoryMiB: 256,
  walltimeSeconds: 300,
  features: ['general'],
  nodeCount: 1,
  variables: { VE_NAME: 'web1', VE_SPEC: 'v1.eyJuYW1lIjoid2ViMSJ9', VE_OWNER: 'user1@vm' },
  script: '#!/bin/sh\nexec ve job-body\n',
  outputPath: '/home/user1/work/ve-web1.log',
  workdir: '/home/user1/work',
};

const UNREACHABLE = "Unable to communicate with vm(127.0.0.1)\nCannot connect to specified server host 'vm'.\nqstat: cannot connect to server vm (errno=111) Connection refused\n";

void t.test('submit: exact qsub argv, script on stdin, job id from stdout', async (t) => {
  const { run, calls } = fakeRun(ok('19.vm\n'));
  const jobId = await createTorqueBatch({ run }).submit(request);
  t.equal(jobId, '19.vm');
  t.strictSame(calls, [
    {
      file: 'qsub',
      args: [
        '-N', 've-web1',
        '-q', 'batch',
        '-l', 'nodes=1:ppn=2:general,mem=256mb,walltime=00:05:00',
        '-j', 'oe', '-o', '/home/user1/work/ve-web1.log',
        '-d', '/home/user1/work',
        '-v', 'VE_NAME=web1,VE_SPEC=v1.eyJuYW1lIjoid2ViMSJ9,VE_OWNER=user1@vm',
      ],
      options: { input: request.script },
    },
  ]);
});

void t.test('submit: binDir, server and timeout reach the client; minimal request', async (t) => {
  const { run, calls } = fakeRun(ok('20.vm\n'));
  const batch = createTorqueBatch({ run, binDir: '/opt/torque/bin', server: 'vm', timeoutMs: 5000 });
  const minimal: SubmitRequest = { ...request, cpus: 2, nodeCount: 2, features: [], memoryMiB: undefined, walltimeSeconds: undefined, variables: {} };
  delete (minimal as { outputPath?: string }).outputPath;
  delete (minimal as { workdir?: string }).workdir;
  t.equal(await batch.submit(minimal), '20.vm');
  t.strictSame(calls, [
    {
      file: '/opt/torque/bin/qsub',
      args: ['-N', 've-web1', '-q', 'batch@vm', '-l', 'nodes=2:ppn=2'],
      options: { timeoutMs: 5000, env: { PBS_DEFAULT: 'vm' }, input: request.script },
    },
  ]);
});

void t.test('submit: an explicit shell becomes -S (TORQUE runs jobs through the owner\'s login shell otherwise)', (t) => {
  const args = buildTorqueQsubArgs({ ...request, shell: '/bin/sh' });
  t.strictSame(args.slice(args.indexOf('-S'), args.indexOf('-S') + 2), ['-S', '/bin/sh']);
  t.notOk(buildTorqueQsubArgs(request).includes('-S'), 'no -S unless asked');
  t.end();
});

void t.test('submit: hostile variables are refused before anything runs, naming the variable', async (t) => {
  for (const value of ['{"a":1,"b":2}', 'a,b', 'x=y', "it's", 'a b', 'line\nbreak', '$(id)', '`id`']) {
    const { run, calls } = fakeRun();
    const err = (await createTorqueBatch({ run }).submit({ ...request, variables: { VE_NAME: 'web1', VE_SPEC: value } }).catch((e: unknown) => e)) as VeError;
    t.ok(err instanceof VeError, JSON.stringify(value));
    t.equal(err.kind, 'prereq');
    t.equal(err.field, 'variables.VE_SPEC');
    t.match(err.message, /variables\.VE_SPEC: TORQUE -v splits on commas/);
    t.equal(calls.length, 0, 'qsub never ran');
  }
  t.throws(() => buildTorqueQsubArgs({ ...request, variables: { 'BAD-NAME': 'x' } }), { code: 'invalid-field', kind: 'prereq', field: 'variables.BAD-NAME' });
  t.end();
});

void t.test('submit: other hostile fields are refused too', (t) => {
  const refused = (change: Partial<SubmitRequest>, field: string): void => {
    t.throws(() => buildTorqueQsubArgs({ ...request, ...change }), { code: 'invalid-field', kind: 'prereq', field }, field);
  };
  refused({ name: '-h' }, 'name');
  refused({ name: 'a b' }, 'name');
  refused({ queue: 'batch@evil' }, 'queue');
  refused({ features: ['general', 'x:ppn=99'] }, 'features');
  refused({ cpus: -1 }, 'cpus');
  refused({ cpus: 1.5 }, 'cpus');
  refused({ nodeCount: 1.5 }, 'nodeCount');
  refused({ memoryMiB: -1 }, 'memoryMiB');
  refused({ walltimeSeconds: 0 }, 'walltimeSeconds');
  refused({ script: 'echo no shebang' }, 'script');
  refused({ outputPath: 'relative/out' }, 'outputPath');
  refused({ outputPath: '/tmp/a,b' }, 'outputPath');
  refused({ workdir: '/home/u ser' }, 'workdir');
  refused({ shell: 'sh' }, 'shell');
  refused({ shell: '/bin/sh -c id' }, 'shell');
  t.throws(() => buildTorqueQsubArgs(request, 'vm -x'), { code: 'invalid-field', field: 'server' });
  t.end();
});

void t.test('submit: TORQUE refusals', async (t) => {
  const submitWith = async (result: CommandResult): Promise<VeError> => {
    const { run } = fakeRun(result);
    return (await createTorqueBatch({ run }).submit(request).catch((e: unknown) => e)) as VeError;
  };
  const root = await submitWith(failed('qsub can not be run as root\n', 1));
  t.equal(root.code, 'torque-root-submit');
  t.equal(root.kind, 'prereq');
  t.match(root.message, /submit as the VE owner/);

  const badQueue = await submitWith(errorFixture('qsub-bad-queue.txt'));
  t.equal(badQueue.code, 'batch-rejected');
  t.equal(badQueue.kind, 'prereq');
  t.match(badQueue.message, 'Unknown queue MSG=requested queue not found');
  t.equal(badQueue.details.exitCode, 172);

  const tooBig = await submitWith(errorFixture('qsub-too-many-ppn.txt'));
  t.equal(tooBig.code, 'batch-rejected');
  t.equal(tooBig.kind, 'prereq');
  t.match(tooBig.message, 'Job exceeds queue resource limits MSG=cannot locate feasible nodes');
  t.equal(tooBig.details.exitCode, 190);

  const down = await submitWith(failed('socket_connect_unix failed: 15137\nqsub: cannot connect to server (null) (errno=15137) could not connect to trqauthd\n', 33));
  t.equal(down.code, 'batch-unavailable');
  t.equal(down.kind, 'environment');

  const garbage = await submitWith(ok('Job submitted, maybe\n'));
  t.equal(garbage.code, 'torque-parse');
  t.equal(garbage.kind, 'environment');
});

void t.test('getJob: qstat -f -x <id>, unknown job is undefined', async (t) => {
  const { run, calls } = fakeRun(ok(fixture('qstat-f-x-running.xml')), errorFixture('qstat-nonexistent.txt'), ok(fixture('qstat-f-x-running-after-qalter.xml')));
  const batch = createTorqueBatch({ run });
  const job = await batch.getJob('15.vm');
  t.equal(job?.jobId, '15.vm');
  t.equal(job?.variables.VE_SPEC_B64, 'eyJuYW1lIjoid2ViMiJ9');
  t.equal(await batch.getJob('99999.vm'), undefined);
  t.equal((await batch.getJob('14'))?.jobId, '14.vm', 'a bare sequence number finds the job');
  t.strictSame(
    calls.map((c) => [c.file, ...c.args]),
    [
      ['qstat', '-f', '-x', '15.vm'],
      ['qstat', '-f', '-x', '99999.vm'],
      ['qstat', '-f', '-x', '14'],
    ],
  );
  await t.rejects(batch.getJob('-u root'), { code: 'invalid-field', field: 'jobId' });
  t.equal(calls.length, 3, 'a bad job id never reaches qstat');
});

void t.test('listJobs: qstat -f -x, filtered by queue and owner after parsing', async (t) => {
  const all = ok(fixture('qstat-f-x-all.xml'));
  const { run, calls } = fakeRun(all, all, all, all);
  const batch = createTorqueBatch({ run });
  t.equal((await batch.listJobs()).length, 19);
  t.strictSame((await batch.listJobs({ queue: 'vemon' })).map((j) => j.jobId), ['1.vm', '3.vm', '5.vm']);
  t.equal((await batch.listJobs({ owner: 'user1', queue: 'batch' })).length, 16);
  t.strictSame(await batch.listJobs({ owner: 'someone' }), []);
  t.strictSame(calls[0]?.args, ['-f', '-x']);
});

void t.test('cancel: qdel; a job that is already gone is no error', async (t) => {
  const { run, calls } = fakeRun(ok(''), errorFixture('qdel-nonexistent.txt'), failed('qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE 16.vm\n', 168), failed('qdel: Unauthorized Request  18.vm\n', 159));
  const batch = createTorqueBatch({ run });
  await batch.cancel('14.vm');
  await batch.cancel('99999.vm');
  await batch.cancel('16.vm');
  await t.rejects(batch.cancel('18.vm'), { code: 'batch-unauthorized', kind: 'exec' });
  t.strictSame(calls.map((c) => [c.file, ...c.args]), [['qdel', '14.vm'], ['qdel', '99999.vm'], ['qdel', '16.vm'], ['qdel', '18.vm']]);
});

void t.test('listNodes: pbsnodes -x, both fixtures', async (t) => {
  const { run, calls } = fakeRun(ok(fixture('pbsnodes-x.xml')), ok(fixture('pbsnodes-x-offline.xml')), failed("pbsnodes: Server has no node list MSG=node list is empty - check 'server_priv/nodes' file\n", 58));
  const batch = createTorqueBatch({ run });
  t.strictSame((await batch.listNodes()).map((n) => [n.name, n.state, n.note]), [['vm', 'busy', undefined], ['runsc', 'free', undefined]]);
  t.strictSame((await batch.listNodes()).map((n) => [n.name, n.state, n.note]), [['vm', 'busy', undefined], ['runsc', 'offline', 'maintenance window']]);
  t.strictSame(await batch.listNodes(), []);
  t.strictSame(calls[0]?.args, ['-x']);
});

void t.test('setNodeOffline: pbsnodes -o -N note node', async (t) => {
  const { run, calls } = fakeRun(ok(''), failed('pbsnodes: Unknown node  MSG=cannot locate specified node\n', 153));
  const batch = createTorqueBatch({ run });
  await batch.setNodeOffline('runsc', 'maintenance window');
  t.strictSame(calls[0]?.args, ['-o', '-N', 'maintenance window', 'runsc']);
  await t.rejects(batch.setNodeOffline('nosuch', 'x'), { code: 'batch-node-unknown', kind: 'prereq' });
  await t.rejects(batch.setNodeOffline('-c', 'x'), { code: 'invalid-field', field: 'node' });
  await t.rejects(batch.setNodeOffline('runsc', 'two\nlines'), { code: 'invalid-field', field: 'note' });
  t.equal(calls.length, 2);
});

// live TORQUE 6.1 as a non-operator: exit 0, the refusal only on stderr, the node unchanged
void t.test('setNodeOffline: a refusal pbsnodes reports with exit 0 is a failure', async (t) => {
  const { run } = fakeRun({ stdout: '', stderr: 'Error setting note attribute for mon1 - Unauthorized Request  MSG=error in permissions (PERM_OPorMGR)\n', exitCode: 0 });
  const batch = createTorqueBatch({ run });
  await t.rejects(batch.setNodeOffline('mon1', 'pbs-ve: fenced after failure'), { code: 'batch-permission-denied', kind: 'prereq' });
});

void t.test('setNodeOnline: pbsnodes -c -N n node (offline cleared, note cleared)', async (t) => {
  const { run, calls } = fakeRun(ok(''), failed('pbsnodes: Unknown node  MSG=cannot locate specified node\n', 153));
  const batch = createTorqueBatch({ run });
  await batch.setNodeOnline('runsc');
  t.strictSame(calls[0]?.args, ['-c', '-N', 'n', 'runsc']);
  await t.rejects(batch.setNodeOnline('nosuch'), { code: 'batch-node-unknown', kind: 'prereq' });
  await t.rejects(batch.setNodeOnline('-o'), { code: 'invalid-field', field: 'node' });
  t.equal(calls.length, 2);
});

void t.test('pbsnodes exits 0 when the server refuses: the words decide (TORQUE 6.1 src/cmds/pbsnodes.c ignores set_all_nodeattrs)', async (t) => {
  const refused = { exitCode: 0, stdout: '', stderr: 'Error setting note attribute for node2 - Unauthorized Request  MSG=operation not permitted\n' };
  const { run } = fakeRun(refused, refused, { exitCode: 0, stdout: '', stderr: 'Error setting note attribute for node9 - Unknown node  MSG=cannot locate specified node\n' });
  const batch = createTorqueBatch({ run });
  await t.rejects(batch.setNodeOffline('node2', 'maintenance'), { code: 'batch-permission-denied', kind: 'prereq', message: /only its managers and operators may change a node/ });
  await t.rejects(batch.setNodeOnline('node2'), { code: 'batch-permission-denied' });
  await t.rejects(batch.setNodeOffline('node9', 'x'), { code: 'batch-node-unknown' });
});

void t.test('a TORQUE client that cannot start is batch-unavailable (exit 3), as on Slurm', async (t) => {
  const batch = createTorqueBatch({ binDir: '/nonexistent/bin' });
  await t.rejects(batch.listNodes(), { code: 'batch-unavailable', kind: 'environment' });
});

void t.test('requeue: qrerun; an unknown job is a prereq error', async (t) => {
  const { run, calls } = fakeRun(ok(''), failed('qrerun: Unknown Job Id Error 99999.vm\n', 153));
  const batch = createTorqueBatch({ run });
  await batch.requeue('14.vm');
  await t.rejects(batch.requeue('99999.vm'), { code: 'batch-job-unknown', kind: 'prereq' });
  t.strictSame(calls.map((c) => [c.file, ...c.args]), [['qrerun', '14.vm'], ['qrerun', '99999.vm']]);
});

// Issue 9, defect 6: on the live TORQUE 6.1 a plain qrerun of a job whose MOM is dead exits 195; -f works.
void t.test('requeue of a job on a dead, fenced host forces it (qrerun -f); a plain one the MOM rejects says why', async (t) => {
  const { run, calls } = fakeRun(ok(''), failed('qrerun: Rejected by mom 17.vm\n', 195));
  const batch = createTorqueBatch({ run });
  await batch.requeue('17.vm', { hostDown: true });
  const err = (await batch.requeue('17.vm').then(() => undefined, (e: unknown) => e)) as VeError;
  t.match(err, { code: 'batch-rejected-by-mom', kind: 'exec' });
  t.match(err.message, /refused the rerun/);
  t.strictSame(calls.map((c) => [c.file, ...c.args]), [['qrerun', '-f', '17.vm'], ['qrerun', '17.vm']]);
});

void t.test('readJobScript: TORQUE clients cannot read it', async (t) => {
  const { run, calls } = fakeRun();
  t.equal(await createTorqueBatch({ run }).readJobScript('15.vm'), undefined);
  t.equal(calls.length, 0);
});

void t.test('server unreachable is batch-unavailable for every call', async (t) => {
  const pbsnodesDown = failed("Unable to communicate with vm(127.0.0.1)\nCannot connect to default server host 'vm' - check pbs_server daemon and/or trqauthd.\npbsnodes: cannot connect to server vm, error=111 (Connection refused)\n", 111);
  const { run } = fakeRun(failed(UNREACHABLE, 111), failed(UNREACHABLE, 111), pbsnodesDown, failed(UNREACHABLE.replaceAll('qstat', 'qdel'), 111), failed('', 111));
  const batch = createTorqueBatch({ run });
  for (const call of [() => batch.getJob('15.vm'), () => batch.listJobs(), () => batch.listNodes(), () => batch.cancel('15.vm'), () => batch.requeue('15.vm')]) {
    const err = (await call().then(() => undefined, (e: unknown) => e)) as VeError;
    t.ok(err instanceof VeError);
    t.equal(err.code, 'batch-unavailable');
    t.equal(err.kind, 'environment');
  }
});

void t.test('runCommand failures (timeout, missing client) are batch-unavailable, as on Slurm, the cause kept', async (t) => {
  const timeout = new VeError('command-timeout', 'environment', 'qstat -f -x: no answer within 10 ms');
  const { run } = fakeRun(timeout);
  const err = (await createTorqueBatch({ run }).listJobs().catch((e: unknown) => e)) as VeError;
  t.match(err, { code: 'batch-unavailable', kind: 'environment', message: /qstat: qstat -f -x: no answer within 10 ms/ });
  t.equal(err.cause, timeout);
});

void t.test('unexpected client failures are batch-command-failed with the output', async (t) => {
  const { run } = fakeRun(failed('qstat: Bad UID for job execution MSG=ruserok failed\n', 23));
  const err = (await createTorqueBatch({ run }).listJobs().catch((e: unknown) => e)) as VeError;
  t.equal(err.code, 'batch-command-failed');
  t.equal(err.kind, 'exec');
  t.match(err.message, /qstat -f -x failed \(exit 23\): qstat: Bad UID/);
});

// Live TORQUE 6.1: qalter -l walltime of a running job is applied by server and MOM but never answered.
void t.test('setTimeLimit: the server\'s word ends a qalter that never answers; a refusal still counts', async (t) => {
  const running = (walltime: string): CommandResult => ok(fixture('qstat-f-x-running.xml').replace('<walltime>00:10:00</walltime>', `<walltime>${walltime}</walltime>`));
  const answered = fakeRun(ok(''));
  await createTorqueBatch({ run: answered.run }).setTimeLimit('15.vm', 1200);
  t.strictSame(answered.calls.map((c) => [c.file, ...c.args]), [['qalter', '-l', 'walltime=00:20:00', '15.vm']], 'an answering qalter is all it takes');

  const calls: Call[] = [];
  let cancelled = false;
  const qstat = [running('00:10:00'), running('00:20:00')];
  const silent: RunCommand = (file, args, options) => {
    calls.push({ file, args, options });
    if (file === 'qalter') {
      return new Promise((_resolve, reject) => {
        options?.cancelSignal?.addEventListener('abort', () => { cancelled = true; reject(new VeError('command-cancelled', 'environment', 'cancelled')); });
      });
    }
    const next = qstat.shift();
    return next === undefined ? Promise.reject(new Error('unexpected qstat')) : Promise.resolve(next);
  };
  await createTorqueBatch({ run: silent }).setTimeLimit('15.vm', 1200);
  t.strictSame(calls.map((c) => c.file), ['qalter', 'qstat', 'qstat'], 'asked until the server held 00:20:00');
  t.ok(cancelled, 'the unanswered qalter was ended');

  const refused = fakeRun(failed('qalter: Unauthorized Request  15.vm\n', 159));
  const err = (await createTorqueBatch({ run: refused.run }).setTimeLimit('15.vm', 1200).catch((e: unknown) => e)) as VeError;
  t.ok(err instanceof VeError);
  t.match(err.message, /Unauthorized Request/);
});
