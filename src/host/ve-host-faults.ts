// <stateDir>/jobs/<jobId>/host-faults: the host faults pbs-ve's prologue met for a job, one JSON line each.
import { appendFileSync, readFileSync } from 'node:fs';
import { findVeJobFile, findJobDir } from './ve-job-record.js';
import { makeReadableDir } from './make-readable-dir.js';

export interface VeHostFault {
  /** ISO 8601 */
  readonly at: string;
  readonly host: string;
  /** the batch system's start count at the time, for the record only: it also counts qrerun and failed sends */
  readonly startCount: number;
  readonly code: string;
}

const faultsPath = (stateDir: string, jobId: string): string => findVeJobFile(findJobDir(stateDir, jobId), 'hostFaults');

// Torn or foreign lines are skipped: a lost count can only allow one more retry, never abort a job.
export function readVeHostFaults(stateDir: string, jobId: string): VeHostFault[] {
  let text: string;
  try {
    text = readFileSync(faultsPath(stateDir, jobId), 'utf8');
  } catch {
    return [];
  }
  const out: VeHostFault[] = [];
  for (const line of text.split('\n')) {
    try {
      const f = JSON.parse(line) as Partial<VeHostFault>;
      if (typeof f.at === 'string' && typeof f.host === 'string' && typeof f.code === 'string') out.push({ at: f.at, host: f.host, startCount: Number(f.startCount) || 0, code: f.code });
    } catch {
      // an empty or torn line
    }
  }
  return out;
}

/** Appends one fault and returns all faults of the job, this one included. */
export function recordVeHostFault(stateDir: string, jobId: string, fault: VeHostFault): VeHostFault[] {
  makeReadableDir(stateDir, findJobDir(stateDir, jobId));
  appendFileSync(faultsPath(stateDir, jobId), `${JSON.stringify(fault)}\n`, { mode: 0o644 });
  return readVeHostFaults(stateDir, jobId);
}
