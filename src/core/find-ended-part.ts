import type { VePartRecord } from '../inventory/inventory.js';
import { SEQ_PER_START } from '../events/next-event-seq.js';

const ENDED_PART_STATES: ReadonlySet<string> = new Set(['stopped', 'failed', 'lost', 'destroyed']);

// A part of this start that is gone ends the whole VE: a cluster with a missing node is not what was asked for.
export function findEndedPart(parts: readonly VePartRecord[], startCount: number): VePartRecord | undefined {
  return parts.find((p) => ENDED_PART_STATES.has(p.state) && Math.floor(p.seq / SEQ_PER_START) === Math.max(1, startCount));
}
