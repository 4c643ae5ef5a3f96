import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { VeError } from '../core/ve-error.js';

/**
 * Hooks run under TORQUE's umask 077, so a mode given to mkdir is not what the directory gets. The job
 * body (the owner), `ve console` and QEMU (libvirt's own user) must enter <stateDir>/jobs/<id>: every
 * directory from stateDir down to `dir` gets its mode set explicitly, and stateDir keeps at least the
 * search bit for everyone (an older pbs-ve may have created it 0700).
 */
export function makeReadableDir(stateDir: string, dir: string): void {
  const rel = relative(stateDir, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new VeError('invalid-path', 'exec', `${dir} is not inside the state directory ${stateDir}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const mode = statSync(stateDir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(stateDir, mode | 0o011);
  let path = stateDir;
  for (const part of rel.split(sep).filter((p) => p !== '')) {
    path = join(path, part);
    chmodSync(path, 0o755);
  }
}
