import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Atomic replace of a file others read (the job record, the recovery record): the mode is set with
 * chmod, because TORQUE runs hooks with umask 077 and the mode given at creation is masked by it.
 */
export function writeReadableFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, file);
}
