import type { Alert } from './send-alert.js';
import type { VeEvent } from '../core/ve-event.js';

/** The administrators' alert for a VE that ended failed: who, where, and why in the host's words. */
export function buildVeFailedAlert(event: VeEvent): Alert {
  return {
    kind: 've-failed',
    key: event.jobId,
    text: `pbs-ve: VE ${event.name} (job ${event.jobId}, owner ${event.owner}, ${event.type}) failed on ${event.host} at ${event.at}: ${event.reason} (reported by ${event.source})`,
  };
}
