import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import { VeError } from './ve-error.js';

const STALE_MS = 60_000;

// Several hooks of one host touch the same journal and counters; an O_EXCL file is the portable lock.
export async function withLockFile<T>(lockPath: string, timeoutMs: number, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lockPath, 'wx', 0o600);
    } catch {
      try {
        // a holder that died (SIGKILL by the batch system) must not block the host forever
        if (Date.now() - statSync(lockPath).mtimeMs > STALE_MS) rmSync(lockPath, { force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new VeError('lock-timeout', 'environment', `could not take ${lockPath} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    try {
      return await fn();
    } finally {
      closeSync(fd);
      rmSync(lockPath, { force: true });
    }
  }
}
