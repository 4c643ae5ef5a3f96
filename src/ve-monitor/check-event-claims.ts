import { VeError } from '../core/ve-error.js';
import type { BatchJob } from '../batch/batch.js';
import type { VeEvent } from '../core/ve-event.js';
import { isHostReport } from '../events/host-report.js';
import type { EventPayload } from '../events/decode-event-payload.js';
import { SEQ_PER_START } from '../events/next-event-seq.js';

// A signed line proves which host sent it; the batch system tells whether that host could know.
// A host speaks only of the runs of jobs the batch system placed on it, in every state: a destroyed or
// stopped claim from another host is as much a lie as a running one. A job the batch system has
// forgotten proves nothing (its VE is gone); a job without hosts (queued again) is not checked by host.
function findContradiction(event: VeEvent, job: BatchJob | undefined): string | undefined {
  if (job === undefined) return undefined;
  if (job.owner !== event.owner) return `job ${event.jobId} belongs to ${job.owner}, the event claims owner ${event.owner}`;
  const run = Math.floor(event.seq / SEQ_PER_START);
  const current = Math.max(1, job.startCount);
  if (run > current) return `job ${event.jobId} has started ${current} time(s), the event (seq ${event.seq}) claims start ${run}`;
  if (run === current && job.execHosts.length > 0 && !job.execHosts.includes(event.host)) {
    return `job ${event.jobId} runs on ${job.execHosts.join(',')}, the event claims ${event.state} on ${event.host}`;
  }
  return undefined;
}

/** Events whose claim the batch system contradicts become VeErrors (event-claim-mismatch); order kept; host reports pass. */
export function checkEventClaims(events: readonly (EventPayload | VeError)[], jobs: readonly BatchJob[]): (EventPayload | VeError)[] {
  const byId = new Map(jobs.map((j) => [j.jobId, j]));
  return events.map((e) => {
    if (e instanceof VeError || isHostReport(e)) return e;
    const why = findContradiction(e, byId.get(e.jobId));
    return why === undefined ? e : new VeError('event-claim-mismatch', 'prereq', why, { details: { jobId: e.jobId, host: e.host } });
  });
}
