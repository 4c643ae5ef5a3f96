import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';

/** What ssh needs to reach one VE's SSH server through a relay inside the VE's own job. */
export interface VeSshTarget {
  readonly batchKind: 'slurm' | 'torque';
  readonly jobId: string;
  /** the VE's host, as the batch system names it */
  readonly host: string;
  readonly name: string;
  /** the login inside the guest (the image's sshUser, else root) */
  readonly user: string;
  readonly nodePath: string;
  readonly installDir: string;
  /** the compute hosts' config directory (may hold "%h") */
  readonly hostConfigDir: string;
  /** the caller's pbs-ve known_hosts file */
  readonly knownHostsFile: string;
  /** a command to run instead of a login shell; empty = interactive */
  readonly command: readonly string[];
}

/** the host key alias: one VE job, so a name reused by a new VE (new host keys) is a new entry */
export function buildHostKeyAlias(target: Pick<VeSshTarget, 'name' | 'jobId'>): string {
  return `${target.name}.${target.jobId}.pbs-ve`;
}

// ssh runs ProxyCommand through the user's shell (prefixing exec itself) and expands %-tokens in it: every word is held to a
// charset no shell or ssh reads specially, single-quoted, and its '%' doubled.
const PROXY_WORD = /^[A-Za-z0-9_./+=,:%@-]+$/;

function quoteProxyWord(field: string, word: string): string {
  if (!PROXY_WORD.test(word)) throw new VeError('unsafe-proxy-word', 'environment', `${field}: ${JSON.stringify(word)} may only hold letters, digits and _./+=,:%@- to go into ssh's ProxyCommand`, { field });
  return `'${word.replaceAll('%', '%%')}'`;
}

// Slurm lets a job's owner run a step in the running job (srun --jobid --overlap): that step is the relay.
// setsid --fork: at the end of a session ssh sends its ProxyCommand SIGHUP, which srun answers by cancelling
// the step and printing "STEP CANCELLED ... task 0: Killed" on the user's terminal; in a session of its own
// srun is not reached, and the relay ends on its own when ssh closes the pipe (end of input).
export function buildProxyCommand(target: VeSshTarget): string {
  const words: [string, string][] = [
    ['setsid', 'setsid'], ['setsid', '--fork'], ['srun', 'srun'], ['job', `--jobid=${target.jobId}`], ['srun', '--overlap'], ['srun', '--nodes=1'], ['srun', '--ntasks=1'],
    ['host', `--nodelist=${target.host}`], ['srun', '--unbuffered'], ['srun', '--quiet'], ['srun', '--mem=0'],
    ['hostConfigDir', `--export=ALL,PBS_VE_CONFIG_DIR=${target.hostConfigDir}`],
    ['nodePath', target.nodePath], ['installDir', join(target.installDir, 'dist/src/qsub-wrappers/main.js')],
    ['relay', 'relay'], ['job', '--job'], ['job', target.jobId], ['relay', '--port'], ['relay', '22'],
  ];
  return words.map(([field, word]) => quoteProxyWord(field, word)).join(' ');
}

// The whole ssh command line, built here so the user's ~/.ssh/config is not needed: StrictHostKeyChecking
// accept-new against pbs-ve's own known_hosts, public keys only, "--" before the destination's command.
export function buildVeSshArgv(target: VeSshTarget): string[] {
  if (target.batchKind !== 'slurm') throw new VeError('ssh-unsupported', 'prereq', 'ssh: reaching a VE through its job needs Slurm (srun --jobid --overlap); TORQUE lets no owner attach to a running job (docs/design.md, "ve ssh")', { field: 'ssh' });
  const alias = buildHostKeyAlias(target);
  return [
    '-o', `ProxyCommand=${buildProxyCommand(target)}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${target.knownHostsFile}`,
    '-o', `HostKeyAlias=${alias}`,
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'LogLevel=ERROR',
    '-l', target.user,
    '--', alias, ...target.command,
  ];
}
