// Undoing a half-done submission of several jobs (ve cluster up, ve create --count): every job is cancelled,
// and one that could not be is named in the error, never hidden.
import { VeError } from '../core/ve-error.js';
import type { Batch } from './batch.js';

// Best effort: all cancels at once; the ids whose cancel failed come back.
async function cancelJobs(jobIds: readonly string[], batch: Pick<Batch, 'cancel'>): Promise<string[]> {
  const failed: string[] = [];
  await Promise.all(jobIds.map(async (id) => batch.cancel(id).catch(() => { failed.push(id); })));
  return failed;
}

/** Cancels the submitted jobs, then returns the error to throw: err itself, or err naming the jobs left behind. */
export async function cancelSubmittedJobs(jobIds: readonly string[], batch: Pick<Batch, 'cancel'>, err: unknown): Promise<unknown> {
  const stuck = await cancelJobs(jobIds, batch);
  if (stuck.length > 0 && err instanceof VeError) {
    return new VeError(err.code, err.kind, `${err.message}; jobs already submitted could not be cancelled: ${stuck.join(' ')} (cancel them by hand)`, { cause: err, ...(err.field === undefined ? {} : { field: err.field }) });
  }
  return err;
}
