import { readFileSync } from 'node:fs';
import { ensureJobDir } from '../host/ve-job-record.js';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { withLockFile } from '../core/with-lock-file.js';
import { VeError } from '../core/ve-error.js';

export const SEQ_PER_START = 1_000_000;
/**
 * Host events step by 16 and leave the numbers in between to the monitor: its guesses (lost, unknown,
 * host back, requeued) take seq + 1, + 2, ..., so up to 15 guesses in a row still sort below the host's
 * own next event (an epilogue "destroyed" still on its way outranks them all).
 */
export const HOST_SEQ_STEP = 16;
/** more starts than this is a requeue loop, not a VE: seqs stay far below 2^53, where n + 1 === n */
export const MAX_START_COUNT = 100_000;
/** the largest seq any event may carry: the last number of start MAX_START_COUNT */
export const MAX_EVENT_SEQ = (MAX_START_COUNT + 1) * SEQ_PER_START - 1;

// A seq file holding anything but a seq of ours (damaged, hand-edited) restarts the count, never overflows it.
function parseSeqFile(text: string): number {
  const n = Number(text.trim());
  return Number.isSafeInteger(n) && n > 0 && n <= MAX_EVENT_SEQ ? n : 0;
}

// Seq = start count x 1e6 + a per-host counter: a requeued job on another host still sorts after its past.
export async function nextEventSeq(jobDir: string, startCount: number): Promise<number> {
  ensureJobDir(jobDir);
  const file = join(jobDir, 'seq');
  return withLockFile(join(jobDir, 'seq.lock'), 2000, () => {
    if (!Number.isSafeInteger(startCount) || startCount > MAX_START_COUNT) {
      throw new VeError('start-count-out-of-range', 'exec', `job start count must be a whole number up to ${MAX_START_COUNT} (got ${String(startCount)})`);
    }
    let last = 0;
    try {
      last = parseSeqFile(readFileSync(file, 'utf8'));
    } catch {
      last = 0;
    }
    const next = Math.max(last + HOST_SEQ_STEP, Math.max(1, startCount) * SEQ_PER_START + HOST_SEQ_STEP);
    writeFileNoFollow(file, `${next}\n`, { mode: 0o644 });
    return next;
  });
}
