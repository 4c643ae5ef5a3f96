import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { VeError, invalidField } from '../core/ve-error.js';
import { findVeJobFile, findJobDir, readVeJobRecord } from '../host/ve-job-record.js';
import { findHostStateDir } from '../config/load-config.js';
import { findVe } from './show-ve.js';
import type { ListVesDeps } from './list-ves.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface VeConsoleLog {
  readonly jobId: string;
  readonly name: string;
  readonly host: string;
  readonly logPath: string;
}

/** the most `ve console --lines` prints */
export const MAX_CONSOLE_LINES = 100_000;

// The log lives in the job dir on the VE's host: reachable here when this is that host or stateDir is shared.
export async function findVeConsoleLog(deps: ListVesDeps & { readonly config: PbsVeConfig }, nameOrJobId: string, owner: string | undefined): Promise<VeConsoleLog> {
  const ve = await findVe(deps, nameOrJobId, owner);
  const logPath = findVeJobFile(findJobDir(findHostStateDir(deps.config, ve.host), ve.jobId), 'console');
  if (!existsSync(logPath)) {
    const where = ve.host === '' ? 'it has no host yet (pending?)' : `it runs on ${ve.host}: run ve console there, or share ${deps.config.stateDir}`;
    throw new VeError('console-not-here', 'prereq', `name: the console log of VE "${ve.name}" (job ${ve.jobId}) is not on this host; ${where}`, { field: 'name' });
  }
  return { jobId: ve.jobId, name: ve.name, host: ve.host, logPath };
}

export function parseLineCount(text: string): number {
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) > MAX_CONSOLE_LINES) throw invalidField('lines', `must be a whole number from 0 to ${MAX_CONSOLE_LINES}`, text);
  return Number(text);
}

// Reads only the file's tail: a console log may be megabytes, the user wants the last screenful.
export function readLastLines(path: string, count: number): { text: string; offset: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (count === 0) return { text: '', offset: size };
    let start = size;
    let chunk = Buffer.alloc(0);
    while (start > 0) {
      const step = Math.min(64 * 1024, start);
      start -= step;
      const buf = Buffer.alloc(step);
      readSync(fd, buf, 0, step, start);
      chunk = Buffer.concat([buf, chunk]);
      // count + 1 newlines: the last line may end with one
      if (chunk.filter((b) => b === 0x0a).length > count) break;
    }
    const lines = chunk.toString('utf8').split('\n');
    const trailing = lines.at(-1) === '' ? 1 : 0;
    const kept = lines.slice(Math.max(0, lines.length - trailing - count));
    return { text: kept.join('\n'), offset: size };
  } finally {
    closeSync(fd);
  }
}

export interface FollowOptions {
  readonly write: (text: string) => void;
  /** true once the VE is over: following stops after the last bytes were printed */
  readonly isOver: () => boolean;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

// tail -F by polling: survives rotation (new inode or a shorter file means: start the new file from 0).
export async function followFile(path: string, fromOffset: number, options: FollowOptions): Promise<void> {
  let offset = fromOffset;
  let inode = statSync(path).ino;
  const pollMs = options.pollMs ?? 250;
  for (;;) {
    // asked before reading: bytes written before the VE ended are still printed
    const over = options.isOver() || options.signal?.aborted === true;
    let st;
    try {
      st = statSync(path);
    } catch {
      st = undefined;
    }
    if (st !== undefined) {
      if (st.ino !== inode || st.size < offset) {
        inode = st.ino;
        offset = 0;
      }
      if (st.size > offset) {
        const fd = openSync(path, 'r');
        try {
          const buf = Buffer.alloc(Math.min(st.size - offset, 1024 * 1024));
          const n = readSync(fd, buf, 0, buf.length, offset);
          offset += n;
          options.write(buf.subarray(0, n).toString('utf8'));
        } finally {
          closeSync(fd);
        }
        continue;
      }
    }
    if (over) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

// The job record says when the VE is gone; its console then stops growing.
export function isVeOver(config: PbsVeConfig, jobId: string, host: string): boolean {
  const record = readVeJobRecord(findHostStateDir(config, host), jobId);
  return record === undefined || record.status === 'destroyed' || record.status === 'failed';
}
