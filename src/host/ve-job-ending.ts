// <stateDir>/jobs/<jobId>/ending-<host>: the epilogue's word to a prologue still running for the same job.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findJobDir } from './ve-job-record.js';
import { makeReadableDir } from './make-readable-dir.js';
import { writeReadableFile } from './write-readable-file.js';

const endingPath = (stateDir: string, jobId: string, host: string): string => join(findJobDir(stateDir, jobId), `ending-${host}`);

/**
 * TORQUE starts the epilogue of a job deleted during its prologue while that prologue still runs. The
 * epilogue writes this first, so the prologue, which looks between its steps, stops and undoes what it made.
 */
export function markVeJobEnding(stateDir: string, jobId: string, host: string, at: Date): void {
  makeReadableDir(stateDir, findJobDir(stateDir, jobId));
  writeReadableFile(endingPath(stateDir, jobId, host), `${at.toISOString()}\n`);
}

/** When the job's last epilogue on this host began; undefined when none ran. */
export function readVeJobEnding(stateDir: string, jobId: string, host: string): Date | undefined {
  try {
    const at = new Date(readFileSync(endingPath(stateDir, jobId, host), 'utf8').trim());
    return Number.isNaN(at.getTime()) ? undefined : at;
  } catch {
    return undefined;
  }
}

// An epilogue of an earlier start (a requeue onto this host) ended before this prologue began: it is not ours.
export function isVeJobEnding(stateDir: string, jobId: string, host: string, prologueStarted: Date): boolean {
  const at = readVeJobEnding(stateDir, jobId, host);
  return at !== undefined && at.getTime() >= prologueStarted.getTime();
}
