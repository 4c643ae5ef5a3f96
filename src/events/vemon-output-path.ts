import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';

/** Slurm's output file of a vemon job (%j = job id): in the vemon node's root-only monitor directory. */
export function buildVemonOutputPath(stateDir: string): string {
  return join(stateDir, 'monitor', 'vemon-%j.out');
}

// slurmd opens a root job's output as root and follows links: only a directory no user can create names in will do.
export function ensureVemonOutputDir(stateDir: string): string {
  const dir = join(stateDir, 'monitor');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const euid = process.geteuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) {
    throw new VeError('unsafe-directory', 'environment', `${dir}: must be a directory of uid ${euid} that no one else can write (mode ${(st.mode & 0o7777).toString(8)}, uid ${st.uid})`);
  }
  return dir;
}
