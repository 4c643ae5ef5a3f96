// The boot storm of issue 12: N tiny LXC VEs created by several users at once (each user's `ve create`s
// one after another, the users side by side), placed by the scheduler, until LDAP shows all running;
// against the same users submitting N trivial jobs. Then pbs-ve's memory per VE, then `ve destroy` of
// all and a check that nothing is lost or left behind.
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config.js';
import { openInventory } from '../src/config/open-adapters.js';
import { runCommand } from '../src/core/run-command.js';
import { runVeAs } from '../src/sandbox/run-demo.js';
import { PROJECT_DIR, VE_NODES, type SandboxInfo } from '../src/sandbox/sandbox.js';
import { openBatchControl } from '../test/harness/batch-control.js';
import { listJobDirs } from '../test/harness/sandbox-host-files.js';
import { measureVeHostMemory, type VeHostMemory } from './measure-ve-host-memory.js';
import { waitForAllVes } from './watch-ve-states.js';
import { readTrivialJobStart, submitTrivialJob, type TrivialJob } from './submit-trivial-job.js';

export const STORM_USERS = ['pbsve-storm1', 'pbsve-storm2', 'pbsve-storm3', 'pbsve-storm4'] as const;

export interface StormMeasure {
  readonly batch: string;
  readonly ves: number;
  /** ms from the first `ve create` until LDAP shows every VE running */
  readonly allRunningMs: number;
  /** ms from the first sbatch/qsub until every trivial job's script ran */
  readonly floorMs: number;
  /** ms from the first `ve destroy` until LDAP shows every VE destroyed */
  readonly allDestroyedMs: number;
  readonly memory: VeHostMemory;
  /** what went wrong: VEs not exactly once in LDAP, history gaps, domains, disks or processes left */
  readonly problems: string[];
  readonly load: string;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

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

export async function measureBootStorm(info: SandboxInfo, ves: number, log: (line: string) => void): Promise<StormMeasure> {
  const inventory = openInventory(loadConfig(info.configDir), 'read');
  const control = openBatchControl(info);
  const problems: string[] = [];
  try {
    const load = await readLoad();
    // the floor first: the same users, the same queue, trivial jobs; then they are cancelled
    const f0 = Date.now();
    const trivial = await runAsUsers(ves, (user, i) => submitTrivialJob(control, user, join(info.dir, 'work'), `raw-${ves}-${i}`));
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
    for (const job of trivial) await control.batch.cancel(job.jobId);
    for (const job of trivial) while (!(await control.isJobDone(job.jobId))) await new Promise((r) => setTimeout(r, 200));
    log(`${info.batch} storm ${ves}: trivial jobs all running after ${floorMs} ms`);

    const t0 = nowMs();
    const created = await runAsUsers(ves, async (user, i) => {
      const r = await runVeAs(info, user, ['create', `s${ves}-${i}`, '--type', 'lxc', '--image', 'tiny', '--memory', '16M', '--lease', '1h', '--no-wait', '--json'], 300_000);
      if (r.exitCode !== 0) throw new Error(`ve create s${ves}-${i} as ${user}: ${r.stderr.trim()}`);
      return { user, name: `s${ves}-${i}`, jobId: (JSON.parse(r.stdout) as { jobId: string }).jobId };
    });
    const jobIds = new Set(created.map((c) => c.jobId));
    log(`${info.batch} storm ${ves}: all ${ves} submitted after ${(nowMs() - t0).toFixed(0)} ms`);
    const allRunningMs = await waitForAllVes(inventory, jobIds, ['running'], t0, 60 * 60_000);
    log(`${info.batch} storm ${ves}: all running in LDAP after ${allRunningMs.toFixed(0)} ms`);
    // the event jobs of the storm end a little later; pbs-ve's per-VE processes are what stays
    await new Promise((r) => setTimeout(r, 5_000));
    const memory = await measureVeHostMemory(jobIds, PROJECT_DIR, info.dir);
    log(`${info.batch} storm ${ves}: pbs-ve PSS ${memory.perJobMiB.toFixed(0)} MiB in VE jobs + ${memory.hostLevelMiB.toFixed(0)} MiB host-level, ${memory.processes} processes`);

    const t1 = nowMs();
    await runAsUsers(ves, async (user, i) => {
      const r = await runVeAs(info, user, ['destroy', `s${ves}-${i}`, '--no-wait', '--json'], 300_000);
      if (r.exitCode !== 0) problems.push(`ve destroy s${ves}-${i}: ${r.stderr.trim().slice(0, 200)}`);
    });
    const allDestroyedMs = await waitForAllVes(inventory, jobIds, ['destroyed'], t1, 60 * 60_000);
    log(`${info.batch} storm ${ves}: all destroyed in LDAP after ${allDestroyedMs.toFixed(0)} ms`);

    // nothing lost: every VE in LDAP exactly once with its history, nothing left on the hosts
    const entries = (await inventory.listVes({ includeFinal: true })).filter((v) => jobIds.has(v.jobId));
    if (entries.length !== ves) problems.push(`${entries.length} LDAP entries for ${ves} VEs`);
    for (const c of created) {
      const states = (await inventory.listHistory(c.jobId)).map((h) => h.state);
      if (!states.includes('running') || !states.includes('destroyed')) problems.push(`${c.name}: history ${states.join(',')}`);
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const domains = await listDomains(info);
    if (domains.length > 0) problems.push(`${domains.length} domains left: ${domains.slice(0, 5).join(' ')}`);
    const dirs = listJobDirs(info).filter((d) => jobIds.has(d) || jobIds.has(d.split('.')[0] ?? ''));
    if (dirs.length > 0) problems.push(`${dirs.length} job dirs left: ${dirs.slice(0, 5).join(' ')}`);
    const left = await measureVeHostMemory(jobIds, PROJECT_DIR, info.dir);
    if (left.processes > 0) problems.push(`${left.processes} pbs-ve processes left`);
    return { batch: info.batch, ves, allRunningMs, floorMs, allDestroyedMs, memory, problems, load };
  } finally {
    await inventory.close();
  }
}
