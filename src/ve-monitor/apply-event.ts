import { VeError } from '../core/ve-error.js';
import { foldEvent } from '../core/fold-event.js';
import { foldMultiNodeVe, foldPartEvent } from '../core/fold-part-event.js';
import type { Inventory, VeRecord } from '../inventory/inventory.js';
import type { VeEvent } from '../core/ve-event.js';
import { isHostReport, type HostReport } from '../events/host-report.js';
import type { EventPayload } from '../events/decode-event-payload.js';
import { applyHostReport } from './apply-host-report.js';

export type ApplyResult = 'applied' | 'stale' | 'duplicate';

const MAX_CAS_RETRIES = 20;
/** VEs folded at once by one vemon job: enough to keep slapd busy, few enough to stay polite */
const FOLD_CONCURRENCY = 8;

/**
 * Folds one event into LDAP: the VE entry by compare-and-swap on seq, then its history entry
 * (idempotent by jobId+seq; a child of the VE entry, so it comes second). A replay of an event whose
 * history write was lost re-adds the history, so replays, duplicates and late events leave LDAP correct.
 */
export async function applyEvent(inventory: Inventory, event: VeEvent): Promise<ApplyResult> {
  return (await applyEventKnowing(inventory, event, undefined)).result;
}

/**
 * applyEvent starting from the entry the caller has just read itself (reconcile reads it to build its
 * event): saves the second read; an entry changed since costs one failed compare-and-swap and a re-read.
 */
export async function applyEventOnto(inventory: Inventory, event: VeEvent, current: VeRecord): Promise<ApplyResult> {
  return (await applyEventKnowing(inventory, event, { record: current })).result;
}

/** What the previous event of the same VE wrote: the entry as it stands unless someone else changed it since. */
interface KnownEntry {
  readonly record: VeRecord | undefined;
}

// The fold of applyEvent, starting from an entry this vemon job wrote itself (saves the read; a stale
// guess only costs a failed compare-and-swap, after which the entry is read again).
async function applyEventKnowing(inventory: Inventory, event: VeEvent, known: KnownEntry | undefined): Promise<{ result: ApplyResult; known: KnownEntry | undefined }> {
  if (event.part !== undefined && event.nodes !== undefined) return { result: await applyPartEvent(inventory, { ...event, part: event.part, nodes: event.nodes }), known: undefined };
  let guess = known;
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    const current = guess === undefined ? await inventory.getVe(event.jobId) : guess.record;
    guess = undefined;
    const { record, history } = foldEvent(current, event);
    if (record === undefined) return { result: (await inventory.addHistory(history)) ? 'stale' : 'duplicate', known: { record: current } };
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
    return { result: 'applied', known: { record } };
  }
  throw new VeError('inventory-contention', 'environment', `job ${event.jobId}: VE entry kept changing under ${MAX_CAS_RETRIES} attempts`);
}

type PartEvent = VeEvent & { readonly part: number; readonly nodes: number };

// Creating the parent first: a part entry and its history are children of the VE entry.
async function ensureVeEntry(inventory: Inventory, event: PartEvent): Promise<void> {
  if (await inventory.getVe(event.jobId) !== undefined) return;
  const record = foldMultiNodeVe(undefined, event, []);
  if (record === undefined) return;
  try {
    await inventory.createVe(record);
  } catch (err) {
    if (!(err instanceof VeError && err.code === 'inventory-exists')) throw err;
  }
}

/**
 * A multi-node VE's event: the part's entry by compare-and-swap on the part's own seq, its history
 * under the part, then the VE entry's derived state (running only when all parts run) by compare-and-swap.
 */
async function applyPartEvent(inventory: Inventory, event: PartEvent): Promise<ApplyResult> {
  const { getPart, listParts, createPart, updatePart } = inventory;
  await ensureVeEntry(inventory, event);
  let applied = false;
  for (let attempt = 0; attempt < MAX_CAS_RETRIES && !applied; attempt++) {
    const current = await getPart(event.jobId, event.part);
    const { part, history } = foldPartEvent(current, event);
    if (part === undefined) return (await inventory.addHistory(history)) ? 'stale' : 'duplicate';
    if (current === undefined) {
      try {
        await createPart(part);
      } catch (err) {
        if (err instanceof VeError && err.code === 'inventory-exists') continue;
        throw err;
      }
    } else if (!(await updatePart(part, current.seq))) {
      continue;
    }
    await inventory.addHistory(history);
    applied = true;
  }
  if (!applied) throw new VeError('inventory-contention', 'environment', `job ${event.jobId} part ${event.part}: part entry kept changing under ${MAX_CAS_RETRIES} attempts`);
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    const current = await inventory.getVe(event.jobId);
    const record = foldMultiNodeVe(current, event, await listParts(event.jobId));
    if (record === undefined) return 'applied';
    if (current === undefined) {
      try {
        await inventory.createVe(record);
        return 'applied';
      } catch (err) {
        if (err instanceof VeError && err.code === 'inventory-exists') continue;
        throw err;
      }
    }
    if (await inventory.updateVe(record, current.seq)) return 'applied';
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
  /** the host times (ISO 8601) of the applied VE events, for the event lag statistics */
  readonly appliedAt: readonly string[];
}

// A batch of events from one vemon job: a bad line is reported and skipped, never blocks the rest.
// Host reports are counted with the events: applied, or stale when a later one is stored already.
export async function applyEvents(inventory: Inventory, events: readonly (EventPayload | VeError)[]): Promise<ApplyEventsReport> {
  let applied = 0;
  let stale = 0;
  let duplicate = 0;
  const rejected: { line: number; code: string; message: string }[] = [];
  const failed: VeEvent[] = [];
  const appliedAt: string[] = [];
  const valid: VeEvent[] = [];
  const reports: { report: HostReport; line: number }[] = [];
  events.forEach((e, i) => {
    if (e instanceof VeError) rejected.push({ line: i + 1, code: e.code, message: e.message });
    else if (isHostReport(e)) reports.push({ report: e, line: i + 1 });
    else valid.push(e);
  });
  // within one VE, seq order makes the final state independent of arrival order; different VEs are
  // independent entries, folded side by side (LDAP answers several operations at once: a storm's vemon
  // job waited on one round trip after another), each VE's events still one after another
  const byVe = new Map<string, VeEvent[]>();
  for (const e of [...valid].sort((a, b) => a.seq - b.seq)) byVe.set(e.jobId, [...(byVe.get(e.jobId) ?? []), e]);
  // a multi-node VE's events list its parts (a paged search; slapd keeps one per connection): those VEs go
  // one at a time after the others
  const groups = [...byVe.values()];
  const queue = groups.filter((g) => g.every((e) => e.part === undefined));
  const multiNode = groups.filter((g) => g.some((e) => e.part !== undefined));
  const foldOneVe = async (): Promise<void> => {
    for (let events = queue.shift(); events !== undefined; events = queue.shift()) {
      let known: KnownEntry | undefined;
      for (const e of events) {
        const outcome = await applyEventKnowing(inventory, e, known);
        known = outcome.known;
        if (outcome.result === 'applied') {
          applied++;
          appliedAt.push(e.at);
          if (e.state === 'failed') failed.push(e);
        } else if (outcome.result === 'stale') stale++;
        else duplicate++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FOLD_CONCURRENCY, queue.length) }, foldOneVe));
  queue.push(...multiNode);
  await foldOneVe();
  // oldest first, so a batch holding two reports of one host ends with the later one
  reports.sort((a, b) => Date.parse(a.report.at) - Date.parse(b.report.at));
  for (const { report, line } of reports) {
    try {
      if ((await applyHostReport(inventory, report)) === 'applied') applied++;
      else stale++;
    } catch (err) {
      // an outage is retried with the whole file; a directory refusing the report (older schema) costs only the report
      if (!(err instanceof VeError) || err.kind === 'environment') throw err;
      rejected.push({ line, code: err.code, message: `host report of ${report.host}: ${err.message}` });
    }
  }
  return { applied, stale, duplicate, rejected, failed, appliedAt };
}
