import { VeError } from '../core/ve-error.js';
import { recordVeHostFault } from '../host/ve-host-faults.js';
import type { Batch, PelogContext } from '../batch/batch.js';
import type { Clock } from '../core/clock.js';

export interface BoundHostFaultDeps {
  readonly batch: Batch;
  readonly maxStarts: number;
  readonly stateDir: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/**
 * TORQUE requeues a job whose prologue exits 2 and starts it again, in a loop (start_count reached 118
 * in 30 s in the fixtures). A host fault is therefore retried only while the job has met fewer than
 * maxStarts host faults; then the node is taken offline with a note and the error becomes a prereq
 * error, which aborts the job for good (exit 1). The faults are pbs-ve's own count, kept with the job's
 * state on the host (<jobDir>/host-faults), not TORQUE's start_count: that one also rises with every
 * qrerun (a recovery's requeue) and every failed send to a MOM (9 seen live), and counting it took a
 * healthy host offline at the first fault after a requeue. Where each host has its own state directory
 * (production), the count is this job's faults on this host, which is where TORQUE's retry loop runs.
 */
export async function boundHostFault(err: unknown, ctx: PelogContext, deps: BoundHostFaultDeps): Promise<unknown> {
  if (!(err instanceof VeError) || err.kind !== 'environment') return err;
  let startCount = 0;
  try {
    startCount = (await deps.batch.getJob(ctx.jobId))?.startCount ?? 0;
  } catch {
    // only for the record: the bound does not depend on it
  }
  let faults: number;
  try {
    faults = recordVeHostFault(deps.stateDir, ctx.jobId, { at: deps.clock.now().toISOString(), host: ctx.host, startCount, code: err.code }).length;
  } catch (e) {
    // a host that cannot even keep the count is as faulty as it gets: no endless requeue loop on it
    deps.log(`pbs-ve: cannot count host faults of job ${ctx.jobId}: ${(e as Error).message}`);
    faults = deps.maxStarts;
  }
  if (faults < deps.maxStarts) {
    deps.log(`pbs-ve: job ${ctx.jobId}: host fault ${faults} of at most ${deps.maxStarts} on ${ctx.host} (${err.code}); the job is requeued`);
    return err;
  }
  const note = `pbs-ve: ${err.code} on ${ctx.host} (job ${ctx.jobId}): ${err.message}`.replace(/\s+/g, ' ').slice(0, 250);
  try {
    await deps.batch.setNodeOffline(ctx.host, note);
  } catch (e) {
    deps.log(`pbs-ve: could not take ${ctx.host} offline: ${(e as Error).message}`);
  }
  return new VeError('host-fault-retries-exhausted', 'prereq', `job ${ctx.jobId} met its host fault ${faults} of at most ${deps.maxStarts}: ${err.message}; job aborted, node ${ctx.host} taken offline`, { cause: err });
}
