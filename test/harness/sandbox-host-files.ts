// Where a sandbox VE's host-side files are: each simulated host has its own state directory
// (<sandbox>/hosts/<host>/state), so tests look a job up on the host that holds it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VE_NODES, type SandboxInfo } from '../../src/sandbox/sandbox.js';

const stateDirs = (info: SandboxInfo): string[] => Object.values(info.hosts).map((h) => h.stateDir);

/** <stateDir>/jobs/<name> of the host holding it; the first VE host's path when none does (yet). */
export function findJobDir(info: SandboxInfo, name: string): string {
  const found = stateDirs(info).map((d) => join(d, 'jobs', name)).find((d) => existsSync(d));
  return found ?? join(info.hosts[VE_NODES[0]]?.stateDir ?? '', 'jobs', name);
}

/** the job directory names of every host */
export function listJobDirs(info: SandboxInfo): string[] {
  return stateDirs(info).flatMap((d) => (existsSync(join(d, 'jobs')) ? readdirSync(join(d, 'jobs')) : []));
}

/** <stateDir>/log/<file> of every host that has one, joined */
export function readHostLogs(info: SandboxInfo, file: string): string {
  return stateDirs(info).map((d) => join(d, 'log', file)).filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8')).join('');
}

/** every host's log files whose name matches, as [path, text] */
export function listHostLogFiles(info: SandboxInfo, pattern: RegExp): [string, string][] {
  return stateDirs(info).flatMap((d) => (existsSync(join(d, 'log')) ? readdirSync(join(d, 'log')).filter((f) => pattern.test(f)).map((f) => join(d, 'log', f)) : []))
    .map((f) => [f, readFileSync(f, 'utf8')] as [string, string]);
}

/** What a refused job leaves in its job dir by design: the refusal the owner reads, the seq of the failed
 *  event it reported (issue 9, defect 8) and the epilogue's ending mark (defect 7); never a disk or seed. */
export function isRefusalBookkeeping(file: string): boolean {
  return file === 'refused' || file === 'seq' || file === 'seq.lock' || file === 'reported' || file === 'host-faults' || file.startsWith('ending-');
}
