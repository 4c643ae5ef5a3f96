// Lifecycle states recorded in LDAP; `pending` is never stored, it is derived from a queued job.
// suspended: paused by its owner (memory kept, or saved to disk); stopped: shut off but still defined,
// holding its job, lease and disks; migrating: moving to another host.
export const VE_STATES = [
  'pending', 'starting', 'running', 'stopping', 'stopped', 'suspended', 'migrating', 'destroyed', 'lost', 'failed', 'unknown',
] as const;
export type VeState = (typeof VE_STATES)[number];

export function isVeState(value: string): value is VeState {
  return (VE_STATES as readonly string[]).includes(value);
}

// States after which the VE can never run again: reconcile and list treat them as history.
export function isFinalState(state: VeState): boolean {
  return state === 'destroyed' || state === 'lost' || state === 'failed';
}
