// Slurm commands say everything on stderr (sometimes with exit 0): one place turns that into VeError kinds.
import { VeError } from '../core/ve-error.js';
import { describeSlurmLimit, isSlurmLimitCode } from './describe-slurm-limit.js';

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
  if (command === 'sbatch' && /QOSMax|QOSGrp|AssocMax|AssocGrp|job submit limit|user's size and\/or time limits/i.test(message)) {
    // sbatch prints the reason code on a line of its own before "Batch job submission failed"
    const code = extractSlurmMessage(stderr).split('; ').find((part) => isSlurmLimitCode(part));
    const which = code === undefined ? 'a per-user limit of the VE queue (Slurm QOS/association limit)' : describeSlurmLimit(code);
    return new VeError('user-limit-reached', 'prereq', `limit: Slurm refused the VE: you reached ${which}; destroy one of your VEs first (Slurm: ${message})`, { field: 'limit', details: { command, ...(code === undefined ? {} : { limit: code }) } });
  }
  return new VeError(code, kind, `${command}: ${message}`, { details: { command } });
}
