import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readVeJobRecord } from '../host/ve-job-record.js';

export interface RemoveOldJobDirsOptions {
  readonly stateDir: string;
  /** this host: records of other hosts (a shared state directory) are theirs to remove */
  readonly host: string;
  /** domains libvirt lists on this host now: a directory whose domain still exists stays */
  readonly domains: ReadonlySet<string>;
  /** how long a finished directory stays for its owner (console log, record) */
  readonly keepMs: number;
  readonly now: Date;
}

// Directory names are job ids or <jobId>_p<i>: anything else in jobs/ is not ours to remove.
const KEPT_DATA_DISK = /^data-[0-9]+\.qcow2$/;
const JOB_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

// The newest change below a directory (one level: records, seq, console log, refusals, op results).
function findNewestMtimeMs(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const name of readdirSync(dir)) {
    try {
      newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
    } catch {
      // removed meanwhile
    }
  }
  return newest;
}

/**
 * Job directories are removed when their VE is gone for good: the record says destroyed (the epilogue
 * finished), no domain of that name exists here, and nothing in it changed for keepMs, so the owner can
 * still read the console log meanwhile. Directories without a record (a refused spec, an operation job's
 * result) go after keepMs too. Returns the names removed.
 */
export function removeOldJobDirs(options: RemoveOldJobDirsOptions): string[] {
  const jobsDir = join(options.stateDir, 'jobs');
  let names: string[];
  try {
    names = readdirSync(jobsDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.filter((n) => JOB_DIR_NAME.test(n))) {
    const dir = join(jobsDir, name);
    try {
      const record = readVeJobRecord(options.stateDir, name);
      if (record !== undefined && (record.host !== options.host || record.status !== 'destroyed' || options.domains.has(record.domain))) continue;
      if (options.now.getTime() - findNewestMtimeMs(dir) < options.keepMs) continue;
      // data disks the epilogue failed to keep (--keep-disk) are the owner's data: an admin decides
      if (readdirSync(dir).some((n) => KEPT_DATA_DISK.test(n))) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // a damaged record or a directory changing under us: left for the next run
    }
  }
  return removed;
}
