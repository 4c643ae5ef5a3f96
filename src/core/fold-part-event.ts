import { buildDomainName } from './build-domain-name.js';
import { buildHistoryRecord } from './fold-event.js';
import { isFinalState, type VeState } from './ve-state.js';
import type { VeEvent } from './ve-event.js';
import type { HistoryRecord, VePartRecord, VeRecord } from '../inventory/inventory.js';

export interface FoldPartResult {
  /** the part to store, or undefined when the event is older than what is stored for that part */
  readonly part: VePartRecord | undefined;
  /** always written (idempotent by jobId+part+seq) */
  readonly history: HistoryRecord;
}

// Pure: a part is folded like a single-node VE, by its own seq, so its events never compete with another part's.
export function foldPartEvent(current: VePartRecord | undefined, event: VeEvent & { readonly part: number }): FoldPartResult {
  const history: HistoryRecord = { ...buildHistoryRecord(current, event), part: event.part };
  if (current !== undefined && current.seq >= event.seq) return { part: undefined, history };
  return {
    part: { jobId: event.jobId, part: event.part, state: event.state, host: event.host, domain: event.domain, seq: event.seq, lastChange: event.at },
    history,
  };
}

/**
 * The state of a VE made of parts: failed or lost as soon as one part is, running only when every
 * part runs, destroyed when every part is; a VE some of whose parts are gone is stopping.
 */
export function deriveVeState(parts: readonly Pick<VePartRecord, 'state'>[], nodes: number): VeState {
  const states = parts.map((p) => p.state);
  const all = states.length >= nodes;
  for (const s of ['failed', 'lost'] as const) if (states.includes(s)) return s;
  if (all && states.every((s) => s === 'destroyed')) return 'destroyed';
  if (states.includes('destroyed') || states.includes('stopping')) return 'stopping';
  for (const s of ['unknown', 'migrating', 'stopped', 'suspended'] as const) if (states.includes(s)) return s;
  if (all && states.every((s) => s === 'running')) return 'running';
  return 'starting';
}

/**
 * The VE entry of a multi-node VE after a part changed: derived state, host, domain and NICs of part 0, seq
 * the highest seen (so the monitor's guesses still sort above). undefined = nothing to write: unchanged,
 * or a final state the monitor set later than this event.
 */
export function foldMultiNodeVe(current: VeRecord | undefined, event: VeEvent & { readonly nodes: number }, parts: readonly VePartRecord[]): VeRecord | undefined {
  if (current !== undefined && isFinalState(current.state) && current.seq > event.seq) return undefined;
  const first = parts.find((p) => p.part === 0);
  const nics = event.part === 0 && event.nics !== undefined ? event.nics : current?.nics;
  const record: VeRecord = {
    jobId: event.jobId,
    name: event.name,
    owner: event.owner,
    type: event.type,
    image: event.image,
    vcpus: event.vcpus,
    memoryMiB: event.memoryMiB,
    state: deriveVeState(parts, event.nodes),
    host: first?.host ?? current?.host ?? event.host,
    domain: first?.domain ?? current?.domain ?? buildDomainName(event.jobId),
    seq: Math.max(current?.seq ?? 0, event.seq),
    lastChange: event.at,
    nodes: event.nodes,
    ...(nics === undefined ? {} : { nics }),
  };
  if (current !== undefined && current.state === record.state && current.host === record.host && current.domain === record.domain
    && current.seq === record.seq && current.nodes === record.nodes && JSON.stringify(current.nics) === JSON.stringify(record.nics)) return undefined;
  return record;
}
