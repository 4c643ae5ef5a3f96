import type { VeState } from './ve-state.js';
import type { VeEvent } from './ve-event.js';
import type { HistoryRecord, VeRecord } from '../inventory/inventory.js';

export interface FoldResult {
  /** the record to store, or undefined when the event is older than what is stored */
  readonly record: VeRecord | undefined;
  /** always written (idempotent by jobId+seq), so history stays complete even for late events */
  readonly history: HistoryRecord;
}

// One transition as history: the old state only when the event is newer than what is stored.
export function buildHistoryRecord(current: { readonly seq: number; readonly state: VeState } | undefined, event: VeEvent): HistoryRecord {
  return {
    jobId: event.jobId,
    seq: event.seq,
    state: event.state,
    oldState: current !== undefined && current.seq < event.seq ? current.state : undefined,
    at: event.at,
    host: event.host,
    source: event.source,
    reason: event.reason,
  };
}

// Pure: ordering by per-VE seq makes replays and late deliveries harmless.
export function foldEvent(current: VeRecord | undefined, event: VeEvent): FoldResult {
  const history = buildHistoryRecord(current, event);
  if (current !== undefined && current.seq >= event.seq) return { record: undefined, history };
  const record: VeRecord = {
    jobId: event.jobId,
    name: event.name,
    owner: event.owner,
    type: event.type,
    image: event.image,
    vcpus: event.vcpus,
    memoryMiB: event.memoryMiB,
    state: event.state,
    host: event.host,
    domain: event.domain,
    seq: event.seq,
    lastChange: event.at,
    // the monitor's guesses (lost, unknown ...) do not know the node count: the entry keeps it
    ...(event.nodes !== undefined ? { nodes: event.nodes } : current?.nodes !== undefined ? { nodes: current.nodes } : {}),
    // events that do not know the NICs (epilogue of an old version, monitor guesses) keep what is stored
    ...(event.nics === undefined ? (current?.nics === undefined ? {} : { nics: current.nics }) : { nics: event.nics }),
    // the monitor's guesses do not know the cluster either
    ...(event.cluster === undefined ? (current?.cluster === undefined ? {} : { cluster: current.cluster }) : { cluster: event.cluster }),
  };
  return { record, history };
}
