import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLockFile } from '../core/with-lock-file.js';

export const SEQ_PER_START = 1_000_000;
/**
 * Host events step by 16 and leave the numbers in between to the monitor: its guesses (lost, unknown,
 * host back, requeued) take seq + 1, + 2, ..., so up to 15 guesses in a row still sort below the host's
 * own next event (an epilogue "destroyed" still on its way outranks them all).
 */
export const HOST_SEQ_STEP = 16;

// Seq = start count x 1e6 + a per-host counter: a requeued job on another host still sorts after its past.
export async function nextEventSeq(jobDir: string, startCount: number): Promise<number> {
  mkdirSync(jobDir, { recursive: true, mode: 0o755 });
  const file = join(jobDir, 'seq');
  return withLockFile(join(jobDir, 'seq.lock'), 2000, () => {
    let last = 0;
    try {
      last = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      last = 0;
    }
    const next = Math.max(last + HOST_SEQ_STEP, Math.max(1, startCount) * SEQ_PER_START + HOST_SEQ_STEP);
    writeFileSync(`${file}.tmp`, `${next}\n`, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    return next;
  });
}
