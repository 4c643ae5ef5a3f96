import { writeFileNoFollow } from '../core/write-file-no-follow.js';

/**
 * Atomic replace of a file others read (the job record, the recovery record): never through a planted
 * link, and mode 0644 whatever the umask (TORQUE runs hooks with umask 077).
 */
export function writeReadableFile(file: string, content: string): void {
  writeFileNoFollow(file, content, { mode: 0o644 });
}
