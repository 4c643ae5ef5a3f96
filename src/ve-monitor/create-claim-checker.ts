import { VeError } from '../core/ve-error.js';
import { checkEventClaims } from './check-event-claims.js';
import type { BatchJob } from '../batch/batch.js';
import type { EventPayload } from '../events/decode-event-payload.js';

export type ClaimChecker = (events: readonly (EventPayload | VeError)[]) => Promise<(EventPayload | VeError)[]>;

/**
 * Claims are checked against one job listing per run (listed on first use, then shared). A batch system
 * that cannot answer is an outage (VeError claims-unchecked, environment): the caller keeps the events
 * spooled and tries again later; an event is never applied unchecked.
 */
export function createClaimChecker(listJobs: () => Promise<BatchJob[]>): ClaimChecker {
  let jobs: BatchJob[] | undefined;
  return async (events) => {
    if (!events.some((e) => !(e instanceof VeError))) return [...events];
    if (jobs === undefined) {
      try {
        jobs = await listJobs();
      } catch (err) {
        throw new VeError('claims-unchecked', 'environment', `event claims cannot be checked, the batch system does not answer: ${(err as Error).message}`, { cause: err });
      }
    }
    return checkEventClaims(events, jobs);
  };
}
