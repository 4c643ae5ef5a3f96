// The shipped example examples/batch-cluster.yaml end to end (issue 13), as an ordinary user: ve cluster up of a
// Slurm cluster inside the virtual cluster (image debian-slurm: slurmctld on batch-head, slurmd on batch-c1..c4,
// one munge key the head makes and serves on the cluster network only), every member answering, then on the head
// `srun -N4 hostname` returns each compute's name once; after `ve cluster scale batch --c 5` the new compute joins
// with no slurm.conf edited (srun -N5); ve cluster down leaves nothing.
// The copy differs from the example only in its ssh key (the test user's own, so ve ssh logs in); the count stays 4.
// The inner Slurm is driven over ve ssh on both backends; the munge key and memory checks look in through each
// member's init (nsenter as the container's root).
// Figures: cluster up -> the inner srun across all computes first succeeds; memory the daemons use (RSS).
// backends: slurm torque
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { useClusterSandbox } from '../harness/use-cluster-sandbox.js';
import { runClusterPass } from '../harness/run-cluster-pass.js';
import { ensureUserSshKey } from '../harness/ensure-user-ssh-key.js';
import { sshUntilAnswer } from '../harness/ssh-until-answer.js';
import type { BatchControl } from '../harness/batch-control.js';
import { waitFor } from '../harness/wait-for.js';
import { findJobDir } from '../harness/sandbox-host-files.js';
import { findContainerInit } from '../harness/find-container-init.js';
import type { ClusterMemberStatus, ClusterStatus } from '../../src/clusters/show-cluster-status.js';

const USER = 'pbsve-user1';
const COMPUTES = ['batch-c1', 'batch-c2', 'batch-c3', 'batch-c4'];
const MEMBERS = ['batch-c1', 'batch-c2', 'batch-c3', 'batch-c4', 'batch-head'];
let info: SandboxInfo;
let control: BatchControl;

const cluster = useClusterSandbox(t, {
  prefix: '/tmp/pbsve-bcl-', user: USER, images: ['debian-slurm'],
  ready: (started, batchControl) => { info = started; control = batchControl; },
});
const { ve, figures } = cluster;


const status = (): Promise<ClusterStatus> => cluster.status('batch');

async function initPid(m: ClusterMemberStatus): Promise<number> {
  const pid = await findContainerInit(info.nodes[m.host]?.lxcUri ?? '', `pbsve-${m.jobId}`);
  if (pid === undefined) throw new Error(`no init process for ${m.name} (pbsve-${m.jobId}) on ${m.host}`);
  return pid;
}

// The container's memory as the kernel charges it (page cache included), now and at its peak: cgroup v1's memory
// controller where the machine has it (this one), else v2's.
function readMemoryCgroup(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = /^\d+:memory:(\/.*)$/m.exec(lines)?.[1];
  const v2 = /^0::(\/.*)$/m.exec(lines)?.[1];
  const [dir, now, peak] = v1 !== undefined ? [join('/sys/fs/cgroup/memory', v1), 'memory.usage_in_bytes', 'memory.max_usage_in_bytes'] : [join('/sys/fs/cgroup', v2 ?? '/nonexistent'), 'memory.current', 'memory.peak'];
  const read = (f: string): string => (existsSync(join(dir, f)) ? `${(Number(readFileSync(join(dir, f), 'utf8')) / 1048576).toFixed(1)} MiB` : '?');
  return `charged now ${read(now)}, at most ${read(peak)}`;
}

// A command as the member's root, through its init's namespaces (the host's view, for what no user should do over ssh).
async function inMember(m: ClusterMemberStatus, command: readonly string[]): Promise<{ ok: boolean; stdout: string; detail: string }> {
  const pid = await initPid(m);
  const r = await runCommand('nsenter', ['--target', String(pid), '--all', '--root', '--wd', '-S', '0', '-G', '0',
    '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...command], { timeoutMs: 150_000 });
  return { ok: r.exitCode === 0, stdout: r.stdout, detail: `exit ${r.exitCode}: ${r.stderr.trim()}` };
}

function consoleOf(m: ClusterMemberStatus): string {
  const log = join(findJobDir(info, m.jobId), 'console.log');
  return existsSync(log) ? readFileSync(log, 'utf8') : '';
}

void t.test('the batch-cluster example: Slurm inside the virtual cluster runs a job across every compute', async (t) => {
  const key = readFileSync(await ensureUserSshKey(USER), 'utf8').trim();
  const example = readFileSync(join(PROJECT_DIR, 'examples/batch-cluster.yaml'), 'utf8');
  t.match(example, /^ {2}- ssh-ed25519 .*$/m, 'the example has one key line to replace');
  const file = join(info.dir, 'work', 'batch-cluster.yaml');
  writeFileSync(file, example.replace(/^ {2}- ssh-ed25519 .*$/m, `  - ${key}`), { mode: 0o644 });

  const t0 = Date.now();
  const up = await ve(['cluster', 'up', file, '--json']);
  t.equal(up.exitCode, 0, up.stderr);
  const planned = JSON.parse(up.stdout) as { members: { name: string; address: string }[] };
  t.same(planned.members.map((m) => m.name).sort(), MEMBERS, 'a head and four computes');
  const running = await waitFor('every member running', 480_000, async () => {
    const s = await status();
    return s.members.length === MEMBERS.length && s.members.every((m) => m.state === 'running') ? s : undefined;
  }, 1000);
  const runningAt = Date.now();
  const head = running.members.find((m) => m.name === 'batch-head');
  if (head === undefined) throw new Error('no batch-head');

  // ve ssh on both backends (Slurm: a step in the member's job; TORQUE: an interactive one-slot job on its host)
  const answered = await sshUntilAnswer(info, USER, 'batch-head', ['hostname'], 240_000);
  t.equal(answered.stdout.trim(), 'batch-head', 've ssh batch-head answers as batch-head');
  for (const m of running.members.filter((x) => x.name !== 'batch-head')) {
    const r = await sshUntilAnswer(info, USER, m.name, ['hostname'], 240_000);
    t.equal(r.stdout.trim(), m.name, `ve ssh ${m.name} answers`);
  }
  const answeredAt = Date.now();
  const onHead = async (command: readonly string[]): Promise<{ ok: boolean; stdout: string; detail: string }> => {
    const r = await ve(['ssh', 'batch-head', '--', ...command], 150_000);
    return { ok: r.exitCode === 0, stdout: r.stdout, detail: `exit ${r.exitCode}: ${r.stderr.trim()}` };
  };

  // every compute's slurmd registered (idle), then one job step across all of them
  // the inner Slurm's idle nodes (sinfo on the head), once as many as expected are
  const waitForIdle = (what: string, count: number): Promise<string[]> => waitFor(what, 300_000, async () => {
    const r = await onHead(['sinfo', '-h', '-N', '-t', 'idle', '-o', '%N']);
    const names = r.ok ? [...new Set(r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== ''))].sort() : [];
    return names.length === count ? names : undefined;
  }, 2000);
  const idle = await waitForIdle('every compute idle in the inner Slurm', COMPUTES.length);
  t.same(idle, COMPUTES, 'sinfo on the head: the four computes idle');
  const srun = await onHead(['timeout', '120', 'srun', `-N${COMPUTES.length}`, 'hostname']);
  t.ok(srun.ok, `srun -N${COMPUTES.length} hostname on the head (${srun.detail})`);
  t.same(srun.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort(), COMPUTES, 'each compute\'s hostname once');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  figures.push(`cluster up -> srun across 4 computes done (${info.batch}, 1+4 LXC debian-slurm, via ve ssh): ${((Date.now() - t0) / 1000).toFixed(1)} s `
    + `(all running ${((runningAt - t0) / 1000).toFixed(1)} s, all answering ${((answeredAt - t0) / 1000).toFixed(1)} s; load ${load})`);

  t.match(consoleOf(head), /batch-head: slurmctld for batch-c\[1-64\], munge key on 10\.99\.0\.10:8099/, 'the head\'s boot script started slurmctld naming the role\'s whole block');
  for (const m of running.members.filter((x) => x.name !== 'batch-head')) t.match(consoleOf(m), new RegExp(`${m.name}: slurmd \\(configless, from batch-head\\)`), `${m.name} took the head's key and ran slurmd`);
  // the key is the head's own (not in the image), and the computes hold the same one
  const sums = await Promise.all(running.members.map(async (m) => (await inMember(m, ['sha256sum', '/etc/munge/munge.key'])).stdout.split(' ')[0] ?? ''));
  t.equal(new Set(sums).size, 1, 'one munge key on every member');
  t.notOk(existsSync(join(info.dir, 'images', 'debian-slurm.rootfs', 'etc', 'munge', 'munge.key')), 'no munge key in the image');
  for (const m of [head, ...running.members.filter((x) => x.name === 'batch-c1')]) {
    const rss = await inMember(m, ['ps', '-e', '-o', 'rss=,comm=']);
    const kib = rss.stdout.split('\n').map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => Number.isFinite(n)).reduce((a, b) => a + b, 0);
    figures.push(`${m.name} (memory ${m.name === 'batch-head' ? '128M' : '64M'}): processes' RSS ${(kib / 1024).toFixed(1)} MiB; its cgroup ${readMemoryCgroup(await initPid(m))}`);
  }

  // a scale: the new compute is already in the head's slurm.conf (batch-c[1-64]) and joins by itself
  const scaled = await ve(['cluster', 'scale', 'batch', '--c', '5']);
  t.equal(scaled.exitCode, 0, scaled.stderr);
  const five = [...COMPUTES, 'batch-c5'];
  const scaledAt = Date.now();
  const idle5 = await waitForIdle('batch-c5 idle in the inner Slurm', five.length);
  t.same(idle5, five, 'after ve cluster scale batch --c 5: five computes idle, no slurm.conf edited');
  const srun5 = await onHead(['timeout', '120', 'srun', '-N5', 'hostname']);
  t.same(srun5.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort(), five, `srun -N5 hostname: each of the five once (${srun5.detail})`);
  figures.push(`ve cluster scale batch --c 5 -> batch-c5 idle in the inner Slurm: ${((Date.now() - scaledAt) / 1000).toFixed(1)} s`);

  t.same((await runClusterPass(info)).map((f) => f.action), ['recorded'], 've-monitor knows the cluster');
  const down = await ve(['cluster', 'down', 'batch']);
  t.equal(down.exitCode, 0, down.stderr);
  await waitFor('every member destroyed', 300_000, async () => {
    const r = await ve(['list', '--json']);
    return (JSON.parse(r.stdout) as { name: string }[]).some((x) => x.name.startsWith('batch-')) ? undefined : true;
  }, 1000);
  t.same((await runClusterPass(info)).map((f) => f.action), ['down'], 'recorded down, nothing recreated');
  t.same((await control.listJobs()).filter((j) => j.owner === USER && j.state !== 'completed').map((j) => j.jobId), [], 'no job left');
  for (const host of ['node1', 'node2']) {
    const r = await runCommand('virsh', ['-q', '-c', info.nodes[host]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 30_000 });
    t.equal(r.stdout.trim(), '', `no domain left on ${host}`);
  }
  t.comment(figures.join('\n'));
});
