// <jobDir>/recovery.json: what the host hook did for a crashed VE, for itself (the restart count) and
// for the job body (running as the owner), which waits for the recovery instead of ending the job.
import { readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { findVeJobFile, findJobDir } from './ve-job-record.js';
import type { RecoveryHistory } from '../core/decide-ve-recovery.js';

export interface VeRecoveryRecord extends RecoveryHistory {
  /** recovering: a restart or rollback is under way; recovered: it runs again; failed: given up */
  readonly phase: 'recovering' | 'recovered' | 'failed';
  readonly reason: string;
  /** ISO time of the last write: the job body's wait for recovery counts from here */
  readonly updatedAt: string;
}

const recoveryPath = (stateDir: string, jobId: string): string => findVeJobFile(findJobDir(stateDir, jobId), 'recovery');

// Root writes it, everyone may read it: it holds no secret, and the job body runs as the owner.
export function writeVeRecoveryRecord(stateDir: string, jobId: string, record: VeRecoveryRecord): void {
  const file = recoveryPath(stateDir, jobId);
  writeFileNoFollow(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

// A missing or torn file means "never recovered": the ladder starts at its first rung, which is the safe side.
export function readVeRecoveryRecord(stateDir: string, jobId: string): VeRecoveryRecord | undefined {
  try {
    const raw = JSON.parse(readFileSync(recoveryPath(stateDir, jobId), 'utf8')) as Partial<VeRecoveryRecord>;
    const phase = raw.phase === 'recovering' || raw.phase === 'recovered' || raw.phase === 'failed' ? raw.phase : undefined;
    if (phase === undefined) return undefined;
    const restarts = Array.isArray(raw.restarts) ? raw.restarts.filter((s): s is string => typeof s === 'string') : [];
    return {
      phase, restarts, reason: typeof raw.reason === 'string' ? raw.reason : '', updatedAt: typeof raw.updatedAt === 'string' ? raw.updatedAt : '',
      ...(typeof raw.rolledBackAt === 'string' ? { rolledBackAt: raw.rolledBackAt } : {}),
    };
  } catch {
    return undefined;
  }
}
