// pbs-ve's own memory per VE on the hosts: the proportional set size (PSS, shared pages split among their
// users) of every process pbs-ve runs for a VE job (the sh job body, anything it starts) plus its host-wide
// processes (ve-host-watch and its `virsh event` children) divided among the VEs. libvirt's and the batch
// system's processes are not pbs-ve's.
import { readFile, readdir } from 'node:fs/promises';

export interface VeHostMemory {
  /** MiB, all VE-tied processes together */
  readonly perJobMiB: number;
  /** MiB, pbs-ve processes tied to no job (ve-host-watch and its children) */
  readonly hostLevelMiB: number;
  readonly processes: number;
  /** of which in VE jobs */
  readonly jobProcesses: number;
  /** the processes counted, for a CPU measure over time */
  readonly pids: readonly string[];
}

const NOT_PBS_VE = new Set(['slurmstepd', 'pbs_mom', 'slurmd', 'libvirt_lxc', 'libvirtd', 'sleep']);

// Unreadable (gone, or not ours to read) counts as nothing, as the process is then not measurable.
async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

async function readPssKiB(pid: string): Promise<number> {
  const m = /^Pss:\s+([0-9]+) kB/m.exec(await readText(`/proc/${pid}/smaps_rollup`));
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

// /proc/<pid>/stat: the fields after the command (which may hold spaces) start at state; ppid is the 2nd.
async function readStatFields(pid: string): Promise<string[]> {
  const stat = await readText(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * Sums PSS over the processes whose environment names one of `jobIds` (SLURM_JOB_ID or TORQUE's PBS_JOBID)
 * and the sandbox (other sandboxes on the machine number their jobs from 1 too), over pbs-ve's job-less
 * processes (command line under `installDir`/dist/src and naming `sandboxDir`'s config, or their
 * children: the watcher's `virsh event`), the caller excluded.
 */
export async function measureVeHostMemory(jobIds: ReadonlySet<string>, installDir: string, sandboxDir: string): Promise<VeHostMemory> {
  let perJob = 0;
  let jobProcesses = 0;
  let hostLevel = 0;
  const pids: string[] = [];
  const hostLevelPids = new Set<string>();
  const parents = new Map<string, string>();
  for (const pid of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(pid) || Number(pid) === process.pid) continue;
    const comm = (await readText(`/proc/${pid}/comm`)).trim();
    if (NOT_PBS_VE.has(comm) || comm === '') continue;
    parents.set(pid, (await readStatFields(pid))[1] ?? '');
    const env = (await readText(`/proc/${pid}/environ`)).split('\0');
    const job = env.find((e) => e.startsWith('SLURM_JOB_ID=') || e.startsWith('PBS_JOBID='))?.split('=')[1];
    if (job !== undefined) {
      if (!jobIds.has(job) && !jobIds.has(job.split('.')[0] ?? '')) continue;
      if (!env.some((e) => e.includes(`${sandboxDir}/`))) continue;
      perJob += await readPssKiB(pid);
      pids.push(pid);
      jobProcesses++;
      continue;
    }
    const cmdline = (await readText(`/proc/${pid}/cmdline`)).split('\0').join(' ');
    if (cmdline.includes(`${installDir}/dist/src/`) && !cmdline.includes('/dist/bench/') && env.some((e) => e.includes(`${sandboxDir}/`))) {
      hostLevel += await readPssKiB(pid);
      pids.push(pid);
      hostLevelPids.add(pid);
    }
  }
  // the watcher's children (virsh event per libvirt URI) are the watcher's cost
  for (const [pid, ppid] of parents) {
    if (hostLevelPids.has(pid) || !hostLevelPids.has(ppid)) continue;
    hostLevel += await readPssKiB(pid);
    pids.push(pid);
  }
  return { perJobMiB: perJob / 1024, hostLevelMiB: hostLevel / 1024, processes: pids.length, jobProcesses, pids };
}

/** CPU seconds (user + system) the given processes spent over `ms` of wall time; a process gone counts what it had */
export async function measureCpuOver(pids: readonly string[], ms: number): Promise<number> {
  const ticks = async (): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    for (const pid of pids) {
      const f = await readStatFields(pid);
      // utime and stime are fields 14 and 15 of stat, 12 and 13 here (counted from state)
      if (f.length > 13) out.set(pid, Number(f[11]) + Number(f[12]));
    }
    return out;
  };
  const before = await ticks();
  await new Promise((r) => setTimeout(r, ms));
  const after = await ticks();
  let sum = 0;
  for (const [pid, t] of before) sum += (after.get(pid) ?? t) - t;
  // Linux reports stat times in USER_HZ, 100 on every architecture Node runs on
  return sum / 100;
}
