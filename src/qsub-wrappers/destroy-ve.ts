import { VeError } from '../core/ve-error.js';
import { findVe } from './show-ve.js';
import { isFinalState } from '../core/ve-state.js';
import type { ListVesDeps } from './list-ves.js';
import type { Clock } from '../core/clock.js';
import type { Batch } from '../batch/batch.js';
import { silentProgress, type WaitProgress } from '../cli/wait-progress.js';

export interface DestroyVeDeps extends ListVesDeps {
  readonly batch: Batch;
  readonly clock: Clock;
  /** shows the wait on a terminal; default silent */
  readonly progress?: WaitProgress;
}

/** `ve destroy`: only the job is cancelled; the epilogue on the VE's host does the teardown. */
export async function destroyVe(deps: DestroyVeDeps, nameOrJobId: string, owner: string | undefined, options: { readonly waitMs: number }): Promise<{ jobId: string; finalState: string | undefined }> {
  const ve = await findVe(deps, nameOrJobId, owner);
  if (isFinalState(ve.state)) {
    throw new VeError('ve-already-ended', 'prereq', `name: VE "${ve.name}" (job ${ve.jobId}) is ${ve.state} already`, { field: 'name' });
  }
  await deps.batch.cancel(ve.jobId);
  if (options.waitMs <= 0) return { jobId: ve.jobId, finalState: undefined };
  const progress = deps.progress ?? silentProgress;
  const deadline = Date.now() + options.waitMs;
  while (Date.now() < deadline) {
    const now = await deps.inventory.getVe(ve.jobId);
    progress.update(`job ${ve.jobId} cancelled; LDAP says ${now?.state ?? ve.state}`);
    if (now !== undefined && isFinalState(now.state)) {
      progress.finish(now.state);
      return { jobId: ve.jobId, finalState: now.state };
    }
    // a VE cancelled while pending never reaches LDAP: gone from the queue is the end
    if (ve.state === 'pending' && (await deps.batch.getJob(ve.jobId))?.state !== 'queued') {
      progress.finish('cancelled');
      return { jobId: ve.jobId, finalState: 'cancelled' };
    }
    await deps.clock.sleep(200);
  }
  progress.finish('not destroyed yet');
  throw new VeError('destroy-timeout', 'environment', `job ${ve.jobId} was cancelled but LDAP did not show the VE destroyed within ${options.waitMs} ms`);
}
