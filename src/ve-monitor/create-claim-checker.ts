import { VeError } from '../core/ve-error.js';
import { isHostReport } from '../events/host-report.js';
import { checkEventClaims } from './check-event-claims.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { EventPayload } from '../events/decode-event-payload.js';

/** jobs asked about one by one per run, beyond the listing; past it the rest wait for the next run */
export const MAX_CLAIM_LOOKUPS = 50;

/** Checks claims against the batch system; throws VeError('event-claims-uncheckable') when it cannot. */
export type ClaimChecker = (events: readonly (EventPayload | VeError)[]) => Promise<(EventPayload | VeError)[]>;

function uncheckable(why: string, err: unknown): VeError {
  return new VeError('event-claims-uncheckable', 'environment', `${why}: ${err instanceof Error ? err.message : String(err)}; the events stay spooled until their claims can be checked (TORQUE: the monitor account must see other users' jobs, set server query_other_jobs = True, see ve admin install server)`, { cause: err });
}

// Fails closed: a listing that fails, or a job the listing leaves out and qstat will not show
// (TORQUE's query_other_jobs = False lists only the caller's own jobs, silently), means the claim
// is not checked, and an unchecked event is never applied. A job the batch system answers "unknown"
// for has been forgotten: that proves nothing, as before.
export function createClaimChecker(batch: Batch): ClaimChecker {
  let listed: Map<string, BatchJob> | undefined;
  const looked = new Map<string, BatchJob | undefined>();
  return async (events) => {
    if (listed === undefined) {
      try {
        listed = new Map((await batch.listJobs()).map((j) => [j.jobId, j]));
      } catch (err) {
        throw uncheckable('the batch system did not list its jobs', err);
      }
    }
    const known = listed;
    const claimed = new Set(events.flatMap((e) => (e instanceof VeError || isHostReport(e) ? [] : [e.jobId])));
    for (const jobId of claimed) {
      if (known.has(jobId) || looked.has(jobId)) continue;
      if (looked.size >= MAX_CLAIM_LOOKUPS) throw uncheckable(`more than ${MAX_CLAIM_LOOKUPS} claimed jobs missing from the job listing`, 'asked no further this run');
      try {
        const job = await batch.getJob(jobId);
        // the listing's spelling of the id may differ (14.vm, 14.vm.example.org): keep the claim's
        looked.set(jobId, job === undefined ? undefined : { ...job, jobId });
      } catch (err) {
        throw uncheckable(`job ${jobId} is not in the job listing and the batch system would not show it`, err);
      }
    }
    const jobs = [...known.values(), ...[...looked.values()].filter((j): j is BatchJob => j !== undefined)];
    return checkEventClaims(events, jobs);
  };
}
