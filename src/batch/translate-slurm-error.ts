// Slurm commands say everything on stderr (sometimes with exit 0): one place turns that into VeError kinds.
import { VeError } from '../core/ve-error.js';

/** slurmctld or munge not reachable: another try later, or another host, may work */
const UNREACHABLE = [
  /unable to contact slurm controller/i,
  /socket timed out/i,
  /zero bytes were transmitted/i,
  /connection refused/i,
  /communication connection failure/i,
  /could not establish a configuration source/i,
  /unable to establish controller/i,
  /munge/i,
  /authentication/i,
  /slurm_load_(jobs|node|partitions) error/i,
];

/** the lines of stderr that carry Slurm's message, without the "sbatch: error: " noise */
export function extractSlurmMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => l.replace(/^(sbatch|squeue|sinfo|scontrol|scancel): (error|fatal): /, ''));
  return lines.join('; ').slice(0, 2000);
}

// True when stderr says the controller (or its authentication) could not be reached at all.
export function isSlurmUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

// A failed Slurm command as a VeError: unreachable -> environment, else the given code/kind with Slurm's words.
export function translateSlurmError(command: string, stderr: string, code: string, kind: 'prereq' | 'exec'): VeError {
  const message = extractSlurmMessage(stderr) || 'failed without a message';
  if (isSlurmUnreachable(stderr)) {
    return new VeError('batch-unavailable', 'environment', `${command}: slurmctld unreachable: ${message}`, {
      details: { command },
    });
  }
  if (command === 'sbatch' && /QOSMax|AssocMax|job submit limit|user's size and\/or time limits/i.test(message)) {
    return new VeError('user-limit-reached', 'prereq', `a per-user limit of the VE queue is reached (Slurm QOS/association limit); destroy one of your VEs first (Slurm: ${message})`, { details: { command } });
  }
  return new VeError(code, kind, `${command}: ${message}`, { details: { command } });
}
