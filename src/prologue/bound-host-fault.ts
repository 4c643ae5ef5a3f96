import { VeError } from '../core/ve-error.js';
import type { Batch, PelogContext } from '../batch/batch.js';

export interface BoundHostFaultDeps {
  readonly batch: Batch;
  readonly maxStarts: number;
  readonly log: (line: string) => void;
}

/**
 * TORQUE requeues a job whose prologue exits 2 and starts it again on the same host, in a loop
 * (start_count reached 118 in 30 s in the fixtures). A host fault is therefore retried only while
 * the job's start count is below maxStarts; then the node is taken offline with a note and the error
 * becomes a prereq error, which aborts the job for good (exit 1).
 */
export async function boundHostFault(err: unknown, ctx: PelogContext, deps: BoundHostFaultDeps): Promise<unknown> {
  if (!(err instanceof VeError) || err.kind !== 'environment') return err;
  let startCount: number | undefined;
  try {
    startCount = (await deps.batch.getJob(ctx.jobId))?.startCount;
  } catch (e) {
    deps.log(`pbs-ve: cannot read start count of job ${ctx.jobId}: ${(e as Error).message}`);
  }
  if (startCount === undefined || startCount < deps.maxStarts) return err;
  const note = `pbs-ve: ${err.code} on ${ctx.host} (job ${ctx.jobId}): ${err.message}`.replace(/\s+/g, ' ').slice(0, 250);
  try {
    await deps.batch.setNodeOffline(ctx.host, note);
  } catch (e) {
    deps.log(`pbs-ve: could not take ${ctx.host} offline: ${(e as Error).message}`);
  }
  return new VeError('host-fault-retries-exhausted', 'prereq', `job ${ctx.jobId} met a host fault on its start ${startCount} of ${deps.maxStarts}: ${err.message}; job aborted, node ${ctx.host} taken offline`, { cause: err });
}
