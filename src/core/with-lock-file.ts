import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { VeError } from './ve-error.js';
import { isProcessAlive } from './is-process-alive.js';

/** a lock without a readable pid (a holder killed between open and write, an older pbs-ve) is stale after this */
const STALE_MS = 60_000;
/** no holder keeps a lock this long (a VE start or a rootfs copy takes minutes): past it, a live pid is a reused one */
const MAX_HOLD_MS = 15 * 60_000;

// The holder's pid, or undefined while it is being written (or for locks of older versions).
function readHolderPid(lockPath: string): number | undefined {
  try {
    const text = readFileSync(lockPath, 'utf8').trim();
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

// A lock is taken over only when its holder is gone: a long prologue (a VE start, a rootfs copy) keeps it.
function removeIfStale(lockPath: string): void {
  try {
    const pid = readHolderPid(lockPath);
    const age = Date.now() - statSync(lockPath).mtimeMs;
    const stale = pid === undefined ? age > STALE_MS : age > MAX_HOLD_MS || !isProcessAlive(pid);
    // re-read just before removing: a new holder may have taken it in between
    if (stale && readHolderPid(lockPath) === pid) rmSync(lockPath, { force: true });
  } catch {
    // gone meanwhile
  }
}

// Several hooks of one host touch the same journal and counters; an O_EXCL file holding the pid is the portable lock.
export async function withLockFile<T>(lockPath: string, timeoutMs: number, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lockPath, 'wx', 0o600);
    } catch (err) {
      // only "someone holds it" is worth waiting for: EACCES (a hook run as the job owner) never gets better
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new VeError('lock-failed', 'environment', `cannot create lock ${lockPath}: ${(err as Error).message}`, { cause: err });
      }
      removeIfStale(lockPath);
      if (Date.now() > deadline) throw new VeError('lock-timeout', 'environment', `could not take ${lockPath} within ${timeoutMs} ms (held by pid ${String(readHolderPid(lockPath) ?? '?')})`);
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
      return await fn();
    } finally {
      closeSync(fd);
      rmSync(lockPath, { force: true });
    }
  }
}
