// pbs-ve's own memory per VE on the hosts: the proportional set size (PSS, shared pages split among their
// users) of every process pbs-ve runs for a VE job (job body, console capture ...) plus its host-wide
// processes divided among the VEs. libvirt's and the batch system's processes are not pbs-ve's.
import { readFile, readdir } from 'node:fs/promises';

export interface VeHostMemory {
  /** MiB, all VE-tied processes together */
  readonly perJobMiB: number;
  /** MiB, pbs-ve processes tied to no job (host-level watchers, if any) */
  readonly hostLevelMiB: number;
  readonly processes: number;
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

/**
 * Sums PSS over the processes whose environment names one of `jobIds` (SLURM_JOB_ID or TORQUE's PBS_JOBID)
 * and the sandbox (other sandboxes on the machine number their jobs from 1 too), and over pbs-ve's
 * job-less processes (command line under `installDir`/dist/src), the caller excluded.
 */
export async function measureVeHostMemory(jobIds: ReadonlySet<string>, installDir: string, sandboxDir: string): Promise<VeHostMemory> {
  let perJob = 0;
  let hostLevel = 0;
  let processes = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(pid) || Number(pid) === process.pid) continue;
    const comm = (await readText(`/proc/${pid}/comm`)).trim();
    if (NOT_PBS_VE.has(comm) || comm === '') continue;
    const env = (await readText(`/proc/${pid}/environ`)).split('\0');
    const job = env.find((e) => e.startsWith('SLURM_JOB_ID=') || e.startsWith('PBS_JOBID='))?.split('=')[1];
    if (job !== undefined) {
      if (!jobIds.has(job) && !jobIds.has(job.split('.')[0] ?? '')) continue;
      if (!env.some((e) => e.includes(`${sandboxDir}/`))) continue;
      perJob += await readPssKiB(pid);
      processes++;
      continue;
    }
    const cmdline = (await readText(`/proc/${pid}/cmdline`)).split('\0').join(' ');
    if (cmdline.includes(`${installDir}/dist/src/`) && !cmdline.includes('/dist/bench/')) {
      hostLevel += await readPssKiB(pid);
      processes++;
    }
  }
  return { perJobMiB: perJob / 1024, hostLevelMiB: hostLevel / 1024, processes };
}
