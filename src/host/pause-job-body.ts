// The job body ends its job (and so the VE) when it sees the domain shut off; a rollback that restarts
// the domain must keep it from looking during that second. SIGSTOP/SIGCONT does so without its help.
import { readdirSync, readFileSync, statSync } from 'node:fs';

/** resumes what was paused; safe to call more than once */
export type ResumeJobBody = () => void;

// The body's own process, found by owner, command and job id: a user's look-alike process only pauses itself.
export function findJobBodyPids(jobId: string, ownerUid: number, procDir = '/proc'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procDir)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (statSync(`${procDir}/${entry}`).uid !== ownerUid) continue;
      const cmdline = readFileSync(`${procDir}/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmdline.some((arg) => arg.endsWith('/job-body/main.js'))) continue;
      const environ = readFileSync(`${procDir}/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`SLURM_JOB_ID=${jobId}`) || environ.includes(`PBS_JOBID=${jobId}`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not readable: not the one we look for
    }
  }
  return pids;
}

// Stopped processes keep their libvirt connection; a pause of a second or two is well inside keepalive.
export function pauseJobBody(jobId: string, ownerUid: number, log: (line: string) => void): ResumeJobBody {
  const paused: number[] = [];
  for (const pid of findJobBodyPids(jobId, ownerUid)) {
    try {
      process.kill(pid, 'SIGSTOP');
      paused.push(pid);
    } catch {
      // ended meanwhile
    }
  }
  if (paused.length === 0) log(`job ${jobId}: no job body process found to pause`);
  let resumed = false;
  return () => {
    if (resumed) return;
    resumed = true;
    for (const pid of paused) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // ended meanwhile
      }
    }
  };
}
