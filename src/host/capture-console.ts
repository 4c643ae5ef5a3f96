// An LXC container's console is a pty (libvirt 9.0 LXC accepts no other console type) and its
// output stalls when nobody reads it: this copies it into the VE's console log, bounded by rotation.
import { closeSync, constants, fchownSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import type { UserIds } from './find-user-ids.js';

export interface CaptureConsoleOptions {
  readonly ptyPath: string;
  readonly logPath: string;
  readonly owner: UserIds;
  /** the log is rotated to <log>.1 at this size, so at most twice this stays on disk */
  readonly maxBytes: number;
}

// O_NOFOLLOW: the job dir is root's, but a planted link must never redirect root's writes.
function openLog(path: string, owner: UserIds): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  fchownSync(fd, owner.uid, owner.gid);
  return fd;
}

export interface ConsoleCapture {
  /** resolves when the container is gone (the pty reports end or an error) or stop() was called */
  readonly ended: Promise<void>;
  stop(): void;
}

/** Copies from now on; one process (ve-host-watch) holds the captures of every LXC VE of its host. */
export function captureConsole(options: CaptureConsoleOptions): ConsoleCapture {
  const ptyFd = openSync(options.ptyPath, constants.O_RDWR | constants.O_NOCTTY);
  const tty = new ReadStream(ptyFd);
  // raw: no echo back into the container, no line buffering; the guest side still writes \r\n
  tty.setRawMode(true);
  let logFd = openLog(options.logPath, options.owner);
  let size = fstatSync(logFd).size;
  let stop = (): void => undefined;
  const ended = new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      closeSync(logFd);
      tty.destroy();
      resolve();
    };
    stop = finish;
    tty.on('data', (chunk: Buffer) => {
      const text = Buffer.from(chunk.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
      if (size + text.length > options.maxBytes && size > 0) {
        closeSync(logFd);
        renameSync(options.logPath, `${options.logPath}.1`);
        logFd = openLog(options.logPath, options.owner);
        size = 0;
      }
      writeSync(logFd, text);
      size += text.length;
    });
    tty.on('end', finish);
    tty.on('error', finish);
    tty.on('close', finish);
  });
  return { ended, stop: () => { stop(); } };
}
