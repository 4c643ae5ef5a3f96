import type { BatchJob } from '../batch/batch.js';

/** Exit codes of `ve-monitor apply` that mean the events reached the vemon side: all applied (0),
 *  some lines rejected for good (2: resending cannot help them), LDAP down with the events spooled (75). */
export const DELIVERED_EXIT_CODES: ReadonlySet<number> = new Set([0, 2, 75]);

export interface VemonJobOutcome {
  readonly outcome: 'delivered' | 'undelivered' | 'waiting';
  readonly why: string;
}

// "Accepted by the batch system" is not "delivered": a vemon job can still fail before ve-monitor
// runs (no login shell, wrong node, deleted while queued). Only its end tells; a forgotten job is
// resent, which the monitor's per-VE seq makes harmless.
export function decideVemonJobOutcome(job: BatchJob | undefined): VemonJobOutcome {
  if (job === undefined) return { outcome: 'undelivered', why: 'the batch system no longer knows it (if that happens to finished jobs at once: TORQUE keep_completed, Slurm MinJobAge; resending is harmless, the monitor drops duplicates by seq)' };
  if (job.state !== 'completed') return { outcome: 'waiting', why: `it is ${job.rawState}` };
  if (job.exitStatus !== undefined && DELIVERED_EXIT_CODES.has(job.exitStatus)) return { outcome: 'delivered', why: `it ended with exit ${job.exitStatus}` };
  return { outcome: 'undelivered', why: `it ended with exit ${job.exitStatus ?? '(none)'} before ve-monitor had its events` };
}
