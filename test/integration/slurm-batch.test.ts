import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Batch, BatchJob, SubmitRequest } from '../../src/batch/batch.js';
import { readSlurmPelogContext } from '../../src/batch/read-slurm-pelog-context.js';
import { createSlurmBatch } from '../../src/batch/slurm-batch.js';
import { runCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import { startSlurm, type SlurmCluster } from '../harness/slurm.js';

const TEST_USER = 'pbsve-user1';

// Polls until the predicate holds (returns the last value) or fails after timeoutMs.
async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Every live process that belongs to this cluster: SLURM_CONF=<conf> in its environment or the dir in its argv.
async function findClusterProcesses(cluster: SlurmCluster): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || pid === String(process.pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (environ.split('\0').includes(`SLURM_CONF=${cluster.slurmConf}`) || cmdline.includes(cluster.dir)) {
        found.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

// our own dir (kept by stop) so the last test can talk to a stopped cluster whose slurm.conf still exists
const clusterDir = await mkdtemp('/tmp/slurm-it-');
const cluster = await startSlurm({ dir: clusterDir });
t.teardown(async () => {
  await cluster.stop();
  await rm(clusterDir, { recursive: true, force: true });
});
const batch: Batch = createSlurmBatch({ slurmConf: cluster.slurmConf, timeoutMs: 20_000 });
const shared = path.join(cluster.dir, 'hookout'); // mode 1777, made by slurm.sh

// A request with sane defaults for this cluster.
function makeRequest(overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    name: 've-test',
    queue: 'batch',
    cpus: 1,
    memoryMiB: 128,
    walltimeSeconds: 600,
    features: ['kvm', 'lxc'],
    nodeCount: 1,
    variables: {},
    script: '#!/bin/sh\nsleep 300\n',
    outputPath: '/dev/null',
    ...overrides,
  };
}

// The job as soon as Slurm runs it, with the submit->running latency.
async function waitRunning(jobId: string): Promise<{ job: BatchJob; ms: number }> {
  const t0 = Date.now();
  const job = await waitFor(`job ${jobId} running`, () => batch.getJob(jobId), (j) => j?.state === 'running');
  if (job === undefined) throw new Error('unreachable');
  return { job, ms: Date.now() - t0 };
}

void t.test('submit -> running with hosts and resources -> script -> cancel -> completed', async (t) => {
  const marker = `MARKER-${Date.now()}`;
  const script = `#!/bin/sh\n# ${marker}\nenv | sort > ${shared}/jobenv.$SLURM_JOB_ID\nsleep 300\n`;
  const request = makeRequest({
    name: `evil" JobState=RUNNING Comment=x`,
    cpus: 2,
    memoryMiB: 256,
    walltimeSeconds: 3700,
    variables: { VE_ID: 've-42', VE_URI: 'qemu:///system' },
    comment: '{"ve":"v1","note":"a, b=c \\"q\\""}',
    script,
    workdir: '/tmp',
  });
  const t0 = Date.now();
  const jobId = await batch.submit(request);
  const submitMs = Date.now() - t0;
  t.match(jobId, /^\d+$/);
  const { job, ms } = await waitRunning(jobId);
  t.comment(`sbatch ${submitMs} ms; submit -> running seen by getJob ${submitMs + ms} ms`);
  t.equal(job.name, request.name, 'hostile name intact');
  t.equal(job.comment, request.comment, 'hostile comment intact');
  t.equal(job.owner, 'root');
  t.equal(job.queue, 'batch');
  t.equal(job.execHosts.length, 1);
  t.ok(['node1', 'node2'].includes(job.execHosts[0] ?? ''));
  t.same(job.resources, { cpus: 2, memoryMiB: 256, walltimeSeconds: 3720, nodeCount: 1, features: ['kvm', 'lxc'] }, 'time rounded up to minutes');
  t.equal(job.startCount, 1);
  t.ok(job.startTime !== undefined && job.submitTime !== undefined);
  t.equal(await batch.readJobScript(jobId), script);

  // --export=NONE,VE_ID=...: the job has our variables and the user's login PATH, not ours
  const envFile = path.join(shared, `jobenv.${jobId}`);
  const jobEnv = await waitFor('job env dump', () => readFile(envFile, 'utf8').catch(() => ''), (s) => s.includes('SLURM_JOB_ID='));
  t.match(jobEnv, /^VE_ID=ve-42$/m);
  t.match(jobEnv, /^VE_URI=qemu:\/\/\/system$/m);
  t.match(jobEnv, /^PATH=.*\/usr\/bin/m);
  t.match(jobEnv, /^HOME=\/root$/m);

  const nodes = await batch.listNodes();
  t.ok(nodes.find((n) => n.name === job.execHosts[0])?.jobIds.includes(jobId), 'listNodes shows the job on its node');

  await batch.cancel(jobId);
  const done = await waitFor('cancelled', () => batch.getJob(jobId), (j) => j === undefined || j.state === 'completed');
  t.equal(done?.rawState, 'CANCELLED');
  t.equal(done?.exitStatus, 143);
  await batch.cancel(jobId); // idempotent
  t.equal(await batch.getJob('999999'), undefined, 'unknown id');
  t.equal(await batch.readJobScript('999999'), undefined);

  // Prolog and Epilog saw the job (PrologFlags=Alloc: before the script, on the allocated node)
  const host = job.execHosts[0] ?? '';
  const files = await waitFor('epilog dump', () => readdir(shared), (f) => f.some((n) => n.startsWith(`epilog.${jobId}.`)));
  const prologFile = files.find((f) => f.startsWith(`prolog.${jobId}.${host}.`)) ?? '';
  const epilogFile = files.find((f) => f.startsWith(`epilog.${jobId}.${host}.`)) ?? '';
  // Parses a dump of the generated hooks (ARGS line, then env | sort).
  const readDump = async (file: string) =>
    Object.fromEntries(
      (await readFile(path.join(shared, file), 'utf8'))
        .split('\n')
        .filter((l) => l.includes('=') && !l.startsWith('ARGS:'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ) as Record<string, string>;
  const prologEnv = await readDump(prologFile);
  const epilogEnv = await readDump(epilogFile);
  t.notOk('VE_ID' in prologEnv, 'the job variables do not reach the Prolog');
  t.notOk('PATH' in prologEnv, 'a Prolog gets no PATH');
  t.equal(prologEnv['SLURM_JOB_COMMENT'], request.comment, 'the comment does');
  const prolog = readSlurmPelogContext(prologEnv, 'prolog');
  t.match(prolog, { jobId, user: 'root', queue: 'batch', host, sister: false, exitStatus: undefined });
  const epilog = readSlurmPelogContext(epilogEnv, 'epilog');
  t.match(epilog, { jobId, host, exitStatus: 0 });
});

void t.test('a two-node job runs on both batch nodes; the Prolog runs on each', async (t) => {
  const jobId = await batch.submit(makeRequest({ nodeCount: 2, cpus: 1 }));
  const { job } = await waitRunning(jobId);
  t.same(job.execHosts, ['node1', 'node2']);
  t.equal(job.resources.nodeCount, 2);
  t.equal(job.resources.cpus, 2);
  const files = await waitFor('prologs', () => readdir(shared), (f) => f.filter((n) => n.startsWith(`prolog.${jobId}.`)).length === 2);
  const sisters = await Promise.all(
    files
      .filter((n) => n.startsWith(`prolog.${jobId}.`))
      .map(async (f) => {
        const env = Object.fromEntries(
          (await readFile(path.join(shared, f), 'utf8')).split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        ) as Record<string, string>;
        const ctx = readSlurmPelogContext(env, 'prolog');
        return `${ctx.host}:${ctx.sister}`;
      }),
  );
  t.same(sisters.sort(), ['node1:false', 'node2:true']);
  await batch.cancel(jobId);
});

void t.test('listJobs filters by queue and owner', async (t) => {
  const rootJob = await batch.submit(makeRequest({ name: 'root-batch' }));
  const monJob = await batch.submit(makeRequest({ name: 'root-mon', queue: 'vemon', features: [] }));
  const userSubmit = await runCommand('runuser', ['-u', TEST_USER, '--', 'sbatch', '--parsable', '-o', '/dev/null', '-J', 'user-job', '-t', '10'], {
    env: cluster.env,
    input: '#!/bin/sh\nsleep 300\n',
    cwd: '/tmp',
  });
  t.equal(userSubmit.exitCode, 0, userSubmit.stderr);
  const userJob = userSubmit.stdout.trim();
  const mine = await batch.listJobs({ owner: TEST_USER });
  t.ok(mine.some((j) => j.jobId === userJob));
  t.ok(mine.every((j) => j.owner === TEST_USER));
  const mon = await batch.listJobs({ queue: 'vemon' });
  t.ok(mon.some((j) => j.jobId === monJob));
  t.ok(mon.every((j) => j.queue === 'vemon'));
  const rootBatch = await batch.listJobs({ queue: 'batch', owner: 'root' });
  t.ok(rootBatch.some((j) => j.jobId === rootJob));
  t.notOk(rootBatch.some((j) => j.jobId === monJob || j.jobId === userJob));
  for (const id of [rootJob, monJob, userJob]) await batch.cancel(id);
});

void t.test('an ordinary user cannot submit to vemon', async (t) => {
  const result = await runCommand('runuser', ['-u', TEST_USER, '--', 'sbatch', '--parsable', '-p', 'vemon', '-o', '/dev/null'], {
    env: cluster.env,
    input: '#!/bin/sh\ntrue\n',
    cwd: '/tmp',
  });
  t.not(result.exitCode, 0);
  t.match(result.stderr, /not permitted/);
});

void t.test('rejected submissions are prereq errors with Slurm\'s message', async (t) => {
  const cases: [string, Partial<SubmitRequest>, RegExp][] = [
    ['unknown partition', { queue: 'nope' }, /Invalid partition/],
    ['99 cpus', { cpus: 99 }, /processors|node configuration/i],
    ['time over MaxTime', { walltimeSeconds: 2 * 86_400 }, /time limit/i],
    ['unknown feature', { features: ['gpu'] }, /feature/i],
    ['more memory than a node has', { memoryMiB: 5000 }, /memory/i],
  ];
  for (const [what, overrides, message] of cases) {
    const err = await batch.submit(makeRequest(overrides)).catch((e: unknown) => e);
    t.ok(err instanceof VeError, what);
    t.match(err, { code: 'batch-rejected', kind: 'prereq', message }, what);
  }
});

void t.test('listNodes, setNodeOffline with a note, resume', async (t) => {
  const t0 = Date.now();
  const nodes = await batch.listNodes();
  t.comment(`listNodes ${Date.now() - t0} ms`);
  t.same(nodes.map((n) => n.name).sort(), ['mon1', 'node1', 'node2']);
  for (const n of nodes) {
    t.equal(n.state, 'free', n.name);
    t.equal(n.cpus, n.name === 'mon1' ? 2 : 3, 'VE nodes have a third CPU for op jobs (veop)');
    t.equal(n.memoryMiB, 1000);
  }
  t.same(nodes.find((n) => n.name === 'node1')?.features, ['kvm', 'lxc']);
  t.same(nodes.find((n) => n.name === 'mon1')?.features, ['vemon']);

  const note = 'pbs-ve: libvirtd not answering, "x" y=z';
  await batch.setNodeOffline('node2', note);
  const node2 = (await batch.listNodes()).find((n) => n.name === 'node2');
  t.equal(node2?.state, 'offline');
  t.equal(node2?.note, "pbs-ve: libvirtd not answering, 'x' y=z");
  t.match(node2?.rawState, /DRAIN/);
  await t.rejects(batch.setNodeOffline('nodeX', 'x'), { code: 'batch-node-unknown', kind: 'prereq' });
  const resume = await runCommand('scontrol', ['update', 'NodeName=node2', 'State=RESUME'], { env: cluster.env });
  t.equal(resume.exitCode, 0, resume.stderr);
  const back = await waitFor('node2 back', () => batch.listNodes(), (ns) => ns.find((n) => n.name === 'node2')?.state === 'free');
  t.equal(back.find((n) => n.name === 'node2')?.note, undefined, 'resume clears the note');
});

void t.test('latency: sbatch -> RUNNING (getJob) -> job script running', async (t) => {
  const samples: string[] = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = Date.now();
    const jobId = await batch.submit(makeRequest({ name: `latency-${i}`, script: `#!/bin/sh\ntouch ${shared}/started.$SLURM_JOB_ID\nsleep 300\n` }));
    const t1 = Date.now();
    await waitRunning(jobId);
    const t2 = Date.now();
    await waitFor('script started', () => readdir(shared), (f) => f.includes(`started.${jobId}`));
    const t3 = Date.now();
    samples.push(`sbatch ${t1 - t0} ms, RUNNING +${t2 - t1} ms, script +${t3 - t1} ms`);
    await batch.cancel(jobId);
    await waitFor('gone', () => batch.getJob(jobId), (j) => j?.state === 'completed');
  }
  for (const s of samples) t.comment(s);
  t.pass();
});

void t.test('requeue of a running job', async (t) => {
  const jobId = await batch.submit(makeRequest({ name: 'requeue-me' }));
  await waitRunning(jobId);
  const t0 = Date.now();
  await batch.requeue(jobId);
  const after = await batch.getJob(jobId);
  t.comment(`right after requeue: ${after?.state} (${after?.rawState}), startCount ${after?.startCount}`);
  const again = await waitFor('running again', () => batch.getJob(jobId), (j) => j?.state === 'running' && j.startCount === 2, 60_000);
  t.equal(again?.startCount, 2);
  t.comment(`requeue -> running again ${Date.now() - t0} ms`);
  await t.rejects(batch.requeue('999999'), { code: 'batch-job-unknown', kind: 'prereq' });
  await batch.cancel(jobId);
});

void t.test('a killed slurmd can be started again', async (t) => {
  await cluster.killSlurmd('mon1');
  await cluster.startSlurmd('mon1');
  const mon1 = await waitFor('mon1 free', () => batch.listNodes(), (ns) => ns.find((n) => n.name === 'mon1')?.state === 'free');
  t.ok(mon1);
});

void t.test('cost of the query commands', async (t) => {
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => batch.submit(makeRequest({ name: `load-${i}`, queue: 'vemon', features: [], cpus: 1, memoryMiB: 10 }))));
  const time = async (what: string, n: number, fn: () => Promise<unknown>) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i += 1) await fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
    t.comment(`${what}: ${ms.toFixed(1)} ms per call`);
  };
  const jobs = await batch.listJobs();
  t.ok(jobs.length >= 20);
  t.comment(`${jobs.length} jobs known to slurmctld`);
  await time('getJob (squeue --json)', 20, () => batch.getJob(ids[0] ?? ''));
  await time('listJobs', 20, () => batch.listJobs());
  await time('listNodes (squeue --json + sinfo --json)', 20, () => batch.listNodes());
  await time('readJobScript', 20, () => batch.readJobScript(ids[0] ?? ''));
  await time('raw scontrol -o show job', 20, () => runCommand('scontrol', ['-o', 'show', 'job', ids[0] ?? ''], { env: cluster.env }));
  await time('raw squeue -h -j', 20, () => runCommand('squeue', ['-h', '-j', ids[0] ?? ''], { env: cluster.env }));
  const t0 = Date.now();
  for (const id of ids) await batch.cancel(id);
  t.comment(`cancel: ${((Date.now() - t0) / ids.length).toFixed(1)} ms per call`);
});

void t.test('stop leaves no process; then the batch system is unavailable', async (t) => {
  // a job still running at stop, and a Prolog that hangs
  const hang = path.join(cluster.dir, 'hooks', 'prolog.sleep');
  const running = await batch.submit(makeRequest({ name: 'left-running', script: '#!/bin/sh\nsleep 1000 & sleep 1000\n' }));
  await waitRunning(running);
  await writeFile(hang, '1000\n');
  await chmod(hang, 0o644);
  await batch.submit(makeRequest({ name: 'prolog-hangs' }));
  await new Promise((r) => setTimeout(r, 1500));
  t.ok((await findClusterProcesses(cluster)).length > 0, 'processes before stop');
  const t0 = Date.now();
  await cluster.stop();
  t.comment(`stop ${Date.now() - t0} ms`);
  t.same(await findClusterProcesses(cluster), [], 'no daemon, slurmstepd, hook or job process left');
  const t1 = Date.now();
  await t.rejects(batch.getJob('1'), { code: 'batch-unavailable', kind: 'environment' });
  t.comment(`getJob against a stopped cluster failed after ${Date.now() - t1} ms`);
  await t.rejects(batch.submit(makeRequest()), { code: 'batch-unavailable', kind: 'environment' });
});
