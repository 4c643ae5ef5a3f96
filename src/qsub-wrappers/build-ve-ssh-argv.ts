import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import type { AttachCommand } from '../batch/batch.js';

/** What ssh needs to reach one VE's SSH server through a relay the batch system runs for the owner on the VE's host. */
export interface VeSshTarget {
  readonly jobId: string;
  /** the VE's host, as the batch system names it */
  readonly host: string;
  readonly name: string;
  /** the login inside the guest (the image's sshUser, else root) */
  readonly user: string;
  readonly nodePath: string;
  readonly installDir: string;
  /** the batch system's way to run the relay beside the VE's job (Batch.buildAttachCommand) */
  readonly attach: AttachCommand;
  /** the caller's pbs-ve known_hosts file */
  readonly knownHostsFile: string;
  /** a command to run instead of a login shell; empty = interactive */
  readonly command: readonly string[];
}

/** the host key alias: one VE job, so a name reused by a new VE (new host keys) is a new entry */
export function buildHostKeyAlias(target: Pick<VeSshTarget, 'name' | 'jobId'>): string {
  return `${target.name}.${target.jobId}.pbs-ve`;
}

/** the relay on the VE's host (`ve relay`), as the batch system is to run it */
export function buildRelayCommand(target: { readonly jobId: string; readonly nodePath: string; readonly installDir: string; readonly hostConfigDir: string }): string[] {
  return ['env', `PBS_VE_CONFIG_DIR=${target.hostConfigDir}`, target.nodePath, join(target.installDir, 'dist/src/qsub-wrappers/main.js'), 'relay', '--job', target.jobId, '--port', '22'];
}

// ssh runs ProxyCommand through the user's shell (prefixing exec itself) and expands %-tokens in it: every word is held to a
// charset no shell or ssh reads specially, single-quoted, and its '%' doubled.
const PROXY_WORD = /^[A-Za-z0-9_./+=,:%@-]+$/;

function quoteProxyWord(word: string): string {
  if (!PROXY_WORD.test(word)) throw new VeError('unsafe-proxy-word', 'environment', `proxy: ${JSON.stringify(word)} may only hold letters, digits and _./+=,:%@- to go into ssh's ProxyCommand`, { field: 'proxy' });
  return `'${word.replaceAll('%', '%%')}'`;
}

// The batch system's command, behind `ve relay-client` when the relay's end is a terminal (TORQUE's qsub -I):
// that one holds ssh's bytes until the relay's terminal is raw and keeps qsub's escapes and lines out of them.
export function buildProxyCommand(target: VeSshTarget): string {
  const words = target.attach.terminal
    ? [target.nodePath, join(target.installDir, 'dist/src/qsub-wrappers/main.js'), 'relay-client', '--', ...target.attach.argv]
    : target.attach.argv;
  return words.map(quoteProxyWord).join(' ');
}

// The whole ssh command line, built here so the user's ~/.ssh/config is not needed: StrictHostKeyChecking
// accept-new against pbs-ve's own known_hosts, public keys only, "--" before the destination's command.
export function buildVeSshArgv(target: VeSshTarget): string[] {
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
