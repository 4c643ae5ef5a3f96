import { VeError } from '../core/ve-error.js';
import { foldEvent } from '../core/fold-event.js';
import type { Inventory } from '../inventory/inventory.js';
import type { VeEvent } from '../core/ve-event.js';

export type ApplyResult = 'applied' | 'stale' | 'duplicate';

const MAX_CAS_RETRIES = 20;

/**
 * Folds one event into LDAP: the VE entry by compare-and-swap on seq, then its history entry
 * (idempotent by jobId+seq; a child of the VE entry, so it comes second). A replay of an event whose
 * history write was lost re-adds the history, so replays, duplicates and late events leave LDAP correct.
 */
export async function applyEvent(inventory: Inventory, event: VeEvent): Promise<ApplyResult> {
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    const current = await inventory.getVe(event.jobId);
    const { record, history } = foldEvent(current, event);
    if (record === undefined) return (await inventory.addHistory(history)) ? 'stale' : 'duplicate';
    if (current === undefined) {
      try {
        await inventory.createVe(record);
      } catch (err) {
        if (err instanceof VeError && err.code === 'inventory-exists') continue;
        throw err;
      }
    } else if (!(await inventory.updateVe(record, current.seq))) {
      continue;
    }
    await inventory.addHistory(history);
    return 'applied';
  }
  throw new VeError('inventory-contention', 'environment', `job ${event.jobId}: VE entry kept changing under ${MAX_CAS_RETRIES} attempts`);
}

export interface ApplyEventsReport {
  readonly applied: number;
  readonly stale: number;
  readonly duplicate: number;
  /** line numbers count the non-empty lines, from 1 */
  readonly rejected: readonly { readonly line: number; readonly code: string; readonly message: string }[];
  /** applied events that made a VE failed: each is worth an alert */
  readonly failed: readonly VeEvent[];
}

// A batch of events from one vemon job: a bad line is reported and skipped, never blocks the rest.
export async function applyEvents(inventory: Inventory, events: readonly (VeEvent | VeError)[]): Promise<ApplyEventsReport> {
  let applied = 0;
  let stale = 0;
  let duplicate = 0;
  const rejected: { line: number; code: string; message: string }[] = [];
  const failed: VeEvent[] = [];
  const valid: VeEvent[] = [];
  events.forEach((e, i) => {
    if (e instanceof VeError) rejected.push({ line: i + 1, code: e.code, message: e.message });
    else valid.push(e);
  });
  // within one VE, seq order makes the final state independent of arrival order
  valid.sort((a, b) => a.seq - b.seq);
  for (const e of valid) {
    const result = await applyEvent(inventory, e);
    if (result === 'applied') {
      applied++;
      if (e.state === 'failed') failed.push(e);
    } else if (result === 'stale') stale++;
    else duplicate++;
  }
  return { applied, stale, duplicate, rejected, failed };
}
