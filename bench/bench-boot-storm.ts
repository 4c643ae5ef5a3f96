// The boot storm of issue 12: N tiny LXC VEs created by several users at once (each user's `ve create`s
// one after another, the users side by side; --create-batch K: each command makes K with --count), placed by the scheduler, until LDAP shows all running;
// against the same users submitting N trivial jobs. Then pbs-ve's memory per VE, then `ve destroy` of
// all and a check that nothing is lost or left behind.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config.js';
import { openInventory } from '../src/config/open-adapters.js';
import { runCommand } from '../src/core/run-command.js';
import { VeError } from '../src/core/ve-error.js';
import { runVeAs } from '../src/sandbox/run-demo.js';
import { PROJECT_DIR, VE_NODES, type SandboxInfo } from '../src/sandbox/sandbox.js';
import { openBatchControl } from '../test/harness/batch-control.js';
import { measureCpuOver, measureVeHostMemory, type VeHostMemory } from './measure-ve-host-memory.js';
import { startCpuAccount, type CpuShare } from './account-storm-cpu.js';
import { waitForAllVes } from './watch-ve-states.js';
import { readTrivialJobStart, submitTrivialJob, type TrivialJob } from './submit-trivial-job.js';

export const STORM_USERS = ['pbsve-storm1', 'pbsve-storm2', 'pbsve-storm3', 'pbsve-storm4'] as const;

export interface StormMeasure {
  readonly batch: string;
  readonly ves: number;
  /** VEs a `ve create` command (--count) */
  readonly createBatch: number;
  /** ms from the first `ve create` until LDAP shows every VE running */
  readonly allRunningMs: number;
  /** ms from the first sbatch/qsub until every trivial job's script ran */
  readonly floorMs: number;
  /** ms from the first `ve destroy` until LDAP shows every VE destroyed */
  readonly allDestroyedMs: number;
  readonly memory: VeHostMemory;
  /** CPU seconds pbs-ve's per-VE and host-level processes spent over IDLE_CPU_MS with every VE running */
  readonly idleCpuSeconds: number;
  /** ms until the users' last `ve create` returned */
  readonly submittedMs: number;
  /** CPU from the first `ve create` until all running, by sandbox daemon and command (process accounting) */
  readonly cpu: readonly CpuShare[];
  /** what went wrong: VEs not exactly once in LDAP, history gaps, domains, disks or processes left */
  readonly problems: string[];
  readonly load: string;
  readonly loadAfter: string;
}

/** how long pbs-ve's processes are watched for periodic work while every VE runs and nothing happens */
export const IDLE_CPU_MS = 30_000;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// The names and owners of a storm: VE i is user i mod 4's, one name per VE, unique per storm size.
interface StormVe { readonly user: string; readonly name: string; readonly jobId: string }

// Each user creates their share in commands of createBatch VEs (`ve create BASE --count K` names them
// BASE-1..K); createBatch 1 is one plain `ve create` a VE, as users do without --count.
async function createStormVes(info: SandboxInfo, ves: number, createBatch: number): Promise<StormVe[]> {
  const options = ['--type', 'lxc', '--image', 'tiny', '--memory', '16M', '--lease', '1h', '--no-wait', '--json'];
  if (createBatch === 1) {
    return runAsUsers(ves, async (user, i) => {
      const r = await runVeAs(info, user, ['create', `s${ves}-${i}`, ...options], 300_000);
      if (r.exitCode !== 0) throw new Error(`ve create s${ves}-${i} as ${user}: ${r.stderr.trim()}`);
      return { user, name: `s${ves}-${i}`, jobId: (JSON.parse(r.stdout) as { jobId: string }).jobId };
    });
  }
  const out: StormVe[] = [];
  await Promise.all(STORM_USERS.map(async (user, u) => {
    const share = Math.floor(ves / STORM_USERS.length) + (u < ves % STORM_USERS.length ? 1 : 0);
    for (let first = 0, b = 0; first < share; first += createBatch, b++) {
      const base = `s${ves}u${u + 1}b${b}`;
      const r = await runVeAs(info, user, ['create', base, '--count', String(Math.min(createBatch, share - first)), ...options], 600_000);
      if (r.exitCode !== 0) throw new Error(`ve create ${base} --count as ${user}: ${r.stderr.trim()}`);
      for (const line of r.stdout.trim().split('\n')) {
        const v = JSON.parse(line) as { jobId: string; spec: { name: string } };
        out.push({ user, name: v.spec.name, jobId: v.jobId });
      }
    }
  }));
  return out;
}

// Each user works through their share one command after another; the users run side by side.
async function runAsUsers<T>(count: number, each: (user: string, i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  await Promise.all(STORM_USERS.map(async (user, u) => {
    for (let i = u; i < count; i += STORM_USERS.length) results.push(await each(user, i));
  }));
  return results;
}

async function readLoad(): Promise<string> {
  return (await runCommand('uptime', [], {})).stdout.trim().replace(/^.*load average/, 'load average');
}

// What VEs leave on a host besides domains and disks (their NICs, <prefix>n..., and LXC id slots): the same before the storm and after its destroy, or something leaked.
async function listHostLeftovers(info: SandboxInfo): Promise<string[]> {
  const config = JSON.parse(readFileSync(join(info.configDir, 'config.json'), 'utf8')) as { network?: { hosts?: { default?: { prefix?: string } } } };
  const prefix = config.network?.hosts?.default?.prefix ?? '-';
  const links = (await runCommand('ip', ['-o', 'link', 'show'], { timeoutMs: 30_000 })).stdout.split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith(`${prefix}n`)).map((n) => `link ${n}`);
  const files: string[] = [];
  for (const node of VE_NODES) {
    const state = info.hosts[node]?.stateDir ?? '';
    // the host's default network (bridge <prefix>b..., networks/pbsve-default.xml) is made by the first VE and stays
    for (const sub of ['lxc-ids']) {
      const d = join(state, sub);
      if (existsSync(d)) files.push(...readdirSync(d).map((f) => `${node} ${sub}/${f}`));
    }
  }
  return [...links, ...files].sort();
}

// The disks the VEs' job directories still hold, as <host>/<job>/<file>.
function listVeDisks(info: SandboxInfo, jobIds: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const node of VE_NODES) {
    const jobs = join(info.hosts[node]?.stateDir ?? '', 'jobs');
    if (!existsSync(jobs)) continue;
    for (const d of readdirSync(jobs).filter((j) => jobIds.has(j) || jobIds.has(j.split('.')[0] ?? ''))) {
      out.push(...readdirSync(join(jobs, d)).filter((f) => ['private', 'rootfs'].includes(f) || f.endsWith('.qcow2')).map((f) => `${node}/${d}/${f}`));
    }
  }
  return out;
}

// The domains libvirt still has for the VE hosts (none may be left after the storm's destroy).
async function listDomains(info: SandboxInfo): Promise<string[]> {
  const names: string[] = [];
  for (const node of VE_NODES) {
    const uri = info.nodes[node]?.lxcUri ?? '';
    const r = await runCommand('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { timeoutMs: 60_000 });
    names.push(...r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('pbsve-')));
  }
  return names;
}

// Live TORQUE 6.1 at 128 trivial jobs: while pbs_server ends the others, one qdel may not answer within the
// client timeout (30 s) although the server goes on and ends the job. The floor's cleanup asks again until
// the batch system says the job is done, instead of failing the whole storm run.
async function cancelUntilDone(control: ReturnType<typeof openBatchControl>, jobId: string): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await control.batch.cancel(jobId);
    } catch (err) {
      if (!(err instanceof VeError) || err.code !== 'batch-unavailable' || Date.now() > deadline) throw err;
    }
    for (let i = 0; i < 50; i++) {
      if (await control.isJobDone(jobId)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (Date.now() > deadline) throw new Error(`trivial job ${jobId} not done 10 minutes after qdel`);
  }
}

/** the floor keeps at most this many trivial jobs submitted and not yet started. slurmd serves at most 256
 *  RPCs at once (MAX_THREADS), and a job holds its threads through its Prolog: at 512, 256 trivial jobs landing
 *  together on one node (and then 192) ran them out ("active_threads == MAX_THREADS(256)"), Slurm requeued the
 *  launches it could not confirm and they hung in COMPLETING for 9 minutes. 64 keeps the nodes' CPUs busy. */
export const FLOOR_IN_FLIGHT = 64;

export async function measureBootStorm(info: SandboxInfo, ves: number, log: (line: string) => void, createBatch = 1): Promise<StormMeasure> {
  const inventory = openInventory(loadConfig(info.configDir), 'read');
  const control = openBatchControl(info);
  const problems: string[] = [];
  try {
    const load = await readLoad();
    // the floor first: the same users, the same queue, trivial jobs; then they are cancelled
    const f0 = Date.now();
    const waiting = new Set<TrivialJob>();
    const trivial = await runAsUsers(ves, async (user, i) => {
      while (waiting.size >= FLOOR_IN_FLIGHT) {
        for (const job of [...waiting]) if (readTrivialJobStart(job) !== undefined) waiting.delete(job);
        if (waiting.size >= FLOOR_IN_FLIGHT) await new Promise((r) => setTimeout(r, 50));
      }
      const job = await submitTrivialJob(control, user, join(info.dir, 'work'), `raw-${ves}-${i}`);
      waiting.add(job);
      return job;
    });
    const pending = new Set<TrivialJob>(trivial);
    let lastStart = f0;
    while (pending.size > 0) {
      for (const job of [...pending]) {
        const s = readTrivialJobStart(job);
        if (s !== undefined) { lastStart = Math.max(lastStart, s); pending.delete(job); }
      }
      if (Date.now() - f0 > 30 * 60_000) throw new Error(`${pending.size} of ${ves} trivial jobs never started`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const floorMs = lastStart - f0;
    for (const job of trivial) await cancelUntilDone(control, job.jobId);
    log(`${info.batch} storm ${ves}: trivial jobs all running after ${floorMs} ms`);

    const leftoversBefore = new Set(await listHostLeftovers(info));
    const account = await startCpuAccount(info.dir, join(info.dir, 'storm.pacct'));
    const t0 = nowMs();
    const created = await createStormVes(info, ves, createBatch);
    if (created.length !== ves) throw new Error(`${created.length} VEs created for a storm of ${ves}`);
    const jobIds = new Set(created.map((c) => c.jobId));
    const submittedMs = nowMs() - t0;
    log(`${info.batch} storm ${ves}: all ${ves} submitted after ${submittedMs.toFixed(0)} ms`);
    let allRunningMs: number;
    let cpu: CpuShare[];
    try {
      allRunningMs = await waitForAllVes(inventory, jobIds, ['running'], t0, 60 * 60_000);
    } finally {
      cpu = await account.stop();
    }
    log(`${info.batch} storm ${ves}: all running in LDAP after ${allRunningMs.toFixed(0)} ms`);
    for (const c of cpu.slice(0, 12)) log(`  cpu ${c.cpuSeconds.toFixed(1)} s (${(c.cpuSeconds / ves * 1000).toFixed(0)} ms/VE) ${c.processes} procs: ${c.what}`);
    // the event jobs of the storm end a little later; pbs-ve's per-VE processes are what stays
    await new Promise((r) => setTimeout(r, 5_000));
    const memory = await measureVeHostMemory(jobIds, PROJECT_DIR, info.dir);
    log(`${info.batch} storm ${ves}: pbs-ve PSS ${memory.perJobMiB.toFixed(1)} MiB in VE jobs + ${memory.hostLevelMiB.toFixed(1)} MiB host-level, ${memory.processes} processes`);
    const idleCpuSeconds = await measureCpuOver(memory.pids, IDLE_CPU_MS);
    log(`${info.batch} storm ${ves}: pbs-ve processes used ${idleCpuSeconds.toFixed(2)} s CPU over ${IDLE_CPU_MS / 1000} s idle`);

    const t1 = nowMs();
    await Promise.all(STORM_USERS.map(async (user) => {
      for (const c of created.filter((v) => v.user === user)) {
        const r = await runVeAs(info, user, ['destroy', c.name, '--no-wait', '--json'], 300_000);
        if (r.exitCode !== 0) problems.push(`ve destroy ${c.name}: ${r.stderr.trim().slice(0, 200)}`);
      }
    }));
    const allDestroyedMs = await waitForAllVes(inventory, jobIds, ['destroyed'], t1, 60 * 60_000);
    log(`${info.batch} storm ${ves}: all destroyed in LDAP after ${allDestroyedMs.toFixed(0)} ms`);

    // nothing lost: every VE in LDAP exactly once with its history, nothing left on the hosts
    const entries = (await inventory.listVes({ includeFinal: true })).filter((v) => jobIds.has(v.jobId));
    if (entries.length !== ves) problems.push(`${entries.length} LDAP entries for ${ves} VEs`);
    const names = new Set(entries.map((e) => `${e.owner}/${e.name}`));
    if (names.size !== entries.length) problems.push(`${entries.length - names.size} VE names in LDAP more than once`);
    for (const c of created) {
      const states = (await inventory.listHistory(c.jobId)).map((h) => h.state);
      if (!states.includes('running') || !states.includes('destroyed')) problems.push(`${c.name}: history ${states.join(',')}`);
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const domains = await listDomains(info);
    if (domains.length > 0) problems.push(`${domains.length} domains left: ${domains.slice(0, 5).join(' ')}`);
    // a destroyed VE's job directory stays (record, seq, console log) until the host report removes it
    // after recovery.jobDirKeepSeconds; its disks (LXC rootfs under private/, qcow2 files) must be gone
    const disks = listVeDisks(info, jobIds);
    if (disks.length > 0) problems.push(`${disks.length} disks left: ${disks.slice(0, 5).join(' ')}`);
    const left = await measureVeHostMemory(jobIds, PROJECT_DIR, info.dir);
    if (left.jobProcesses > 0) problems.push(`${left.jobProcesses} processes of the VE jobs left`);
    const leaked = (await listHostLeftovers(info)).filter((l) => !leftoversBefore.has(l));
    if (leaked.length > 0) problems.push(`${leaked.length} NICs/LXC id slots/network records left: ${leaked.slice(0, 5).join(' ')}`);
    const loadAfter = await readLoad();
    log(`${info.batch} storm ${ves}: ${problems.length === 0 ? 'nothing lost or left behind' : problems.join('; ')}; ${loadAfter} after`);
    return { batch: info.batch, ves, createBatch, allRunningMs, floorMs, allDestroyedMs, memory, idleCpuSeconds, submittedMs, cpu, problems, load, loadAfter };
  } finally {
    await inventory.close();
  }
}
