import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLockFile } from '../core/with-lock-file.js';

export const SEQ_PER_START = 1_000_000;

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
    const next = Math.max(last + 1, Math.max(1, startCount) * SEQ_PER_START + 1);
    writeFileSync(`${file}.tmp`, `${next}\n`, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    return next;
  });
}
