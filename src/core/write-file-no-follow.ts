import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { VeError } from './ve-error.js';

export interface NoFollowOptions {
  /** file mode of a new file (default 0644) */
  readonly mode?: number;
  /** owner of the new file (root hooks writing a file the VE owner reads) */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** fsync before the rename (journals and counters) */
  readonly sync?: boolean;
}

/**
 * Root writes a whole file by a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW: a planted name or link
 * makes the open fail, never followed) and renames it over the target, which replaces a link rather
 * than writing through it.
 */
export function writeFileNoFollow(file: string, data: string, options: NoFollowOptions = {}): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode ?? 0o644);
  try {
    try {
      if (options.owner !== undefined) fchownSync(fd, options.owner.uid, options.owner.gid);
      // the mode is set, not left to the umask: TORQUE runs hooks with umask 077
      fchmodSync(fd, options.mode ?? 0o644);
      writeSync(fd, data);
      if (options.sync === true) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Root appends to a log without following links: O_NOFOLLOW, and the file must be a regular file with
 * one link, owned by this process's user (a name someone else created first is refused, not written).
 */
export function appendFileNoFollow(file: string, data: string, options: Pick<NoFollowOptions, 'mode' | 'sync'> = {}): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, options.mode ?? 0o640);
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? st.uid;
    if (!st.isFile() || st.nlink !== 1 || st.uid !== euid) {
      throw new VeError('unsafe-file', 'environment', `${file}: not a plain file of uid ${euid} with one link (uid ${st.uid}, ${st.nlink} link(s)); not written`);
    }
    writeSync(fd, data);
    if (options.sync === true) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
