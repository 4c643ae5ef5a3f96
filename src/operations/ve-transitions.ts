// The one table of what each operation may do to a VE in each state, checked by `ve` before a job is
// submitted (against LDAP) and again by root on the host (against the VE's record and libvirt).
import { VeError } from '../core/ve-error.js';
import type { VeState } from '../core/ve-state.js';

export const VE_OPERATION_KINDS = [
  'stop', 'start', 'restart', 'suspend', 'resume', 'extend', 'snapshot', 'list-snapshots', 'rollback', 'migrate',
] as const;
export type VeOperationKind = (typeof VE_OPERATION_KINDS)[number];

export interface VeTransition {
  /** states the VE may be in for the operation to run */
  readonly from: readonly VeState[];
  /** the state the VE is in once the operation succeeded */
  readonly to: (from: VeState) => VeState;
}

const same = (from: VeState): VeState => from;

/** what the table says; `ve` prints it in its errors and docs/design.md prints it for admins */
export const VE_TRANSITIONS: Readonly<Record<VeOperationKind, VeTransition>> = {
  stop: { from: ['running', 'suspended'], to: () => 'stopped' },
  start: { from: ['stopped'], to: () => 'running' },
  restart: { from: ['running'], to: () => 'running' },
  suspend: { from: ['running'], to: () => 'suspended' },
  resume: { from: ['suspended'], to: () => 'running' },
  extend: { from: ['running', 'stopped', 'suspended'], to: same },
  snapshot: { from: ['running', 'stopped', 'suspended'], to: same },
  'list-snapshots': { from: ['running', 'stopped', 'suspended'], to: same },
  rollback: { from: ['running', 'stopped'], to: () => 'running' },
  // migrating on the source host; the destination's prologue makes it running (live) or starts it (cold) there
  migrate: { from: ['running', 'stopped'], to: () => 'migrating' },
};

// Pure: a refused transition names the state the VE is in and the states the operation needs.
export function checkVeTransition(kind: VeOperationKind, state: VeState, veName: string): VeState {
  const transition = VE_TRANSITIONS[kind];
  if (!transition.from.includes(state)) {
    throw new VeError('ve-wrong-state', 'prereq', `name: VE "${veName}" is ${state}; ${kind} needs it ${transition.from.join(' or ')}`, { field: 'name' });
  }
  return transition.to(state);
}
