// The recovery ladder of a crashed VE: restart on the same host up to a limit per window, then roll
// back to its newest snapshot and start once more, then give up.

/** What the host remembers about one VE's recoveries (<jobDir>/recovery.json). */
export interface RecoveryHistory {
  /** ISO times of the restarts done so far (older than the window no longer count) */
  readonly restarts: readonly string[];
  /** ISO time of the last rollback to a snapshot, if any */
  readonly rolledBackAt?: string;
}

export interface RecoveryPolicy {
  /** restarts allowed within windowMs before the rollback rung */
  readonly maxRestarts: number;
  readonly windowMs: number;
}

export type RecoveryDecision =
  | { readonly action: 'restart'; readonly attempt: number; readonly of: number }
  | { readonly action: 'rollback'; readonly snapshot: string }
  | { readonly action: 'give-up'; readonly reason: string };

export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = { maxRestarts: 3, windowMs: 3600_000 };

// Only what happened inside the window counts: a VE that ran well for a while starts the ladder afresh.
function isRecent(at: string | undefined, now: Date, windowMs: number): boolean {
  if (at === undefined) return false;
  const t = Date.parse(at);
  return !Number.isNaN(t) && now.getTime() - t < windowMs;
}

/**
 * Pure: the next rung for a VE that just crashed. `newestSnapshot` is undefined when the VE has none
 * (the rung is skipped). A rollback inside the window is the last try: the next crash gives up.
 */
export function decideVeRecovery(history: RecoveryHistory, newestSnapshot: string | undefined, now: Date, policy: RecoveryPolicy = DEFAULT_RECOVERY_POLICY): RecoveryDecision {
  const windowS = Math.round(policy.windowMs / 1000);
  if (isRecent(history.rolledBackAt, now, policy.windowMs)) {
    return { action: 'give-up', reason: `crashed again after the rollback to its last snapshot (and ${policy.maxRestarts} restart(s) within ${windowS} s)` };
  }
  const recent = history.restarts.filter((at) => isRecent(at, now, policy.windowMs)).length;
  if (recent < policy.maxRestarts) return { action: 'restart', attempt: recent + 1, of: policy.maxRestarts };
  if (newestSnapshot !== undefined) return { action: 'rollback', snapshot: newestSnapshot };
  return { action: 'give-up', reason: `crashed ${recent + 1} times within ${windowS} s and has no snapshot to roll back to` };
}

/** The history after a decision was carried out, restarts outside the window dropped. */
export function recordRecovery(history: RecoveryHistory, decision: RecoveryDecision, now: Date, policy: RecoveryPolicy = DEFAULT_RECOVERY_POLICY): RecoveryHistory {
  const restarts = history.restarts.filter((at) => isRecent(at, now, policy.windowMs));
  if (decision.action === 'restart') return { ...history, restarts: [...restarts, now.toISOString()] };
  if (decision.action === 'rollback') return { restarts, rolledBackAt: now.toISOString() };
  return { ...history, restarts };
}
