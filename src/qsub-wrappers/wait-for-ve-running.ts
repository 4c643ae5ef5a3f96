import { VeError } from '../core/ve-error.js';
import { isFinalState } from '../core/ve-state.js';
import type { Batch } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Clock } from '../core/clock.js';
import type { WaitProgress } from '../cli/wait-progress.js';

export interface WaitForVeDeps {
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly clock: Clock;
  readonly progress: WaitProgress;
}

// a 1 s poll added 0.5 s on average to every `ve create --wait`; one LDAP read per 250 ms is cheap
const POLL_MS = 250;

// LDAP is the record once the prologue reported; before that the batch system says why the job waits.
async function describeWait(jobId: string, deps: WaitForVeDeps): Promise<{ outcome: 'running' | 'ended' | 'waiting'; detail: string }> {
  const ve = await deps.inventory.getVe(jobId);
  if (ve !== undefined) {
    const detail = `${ve.state}${ve.host === '' ? '' : ` on ${ve.host}`}`;
    return { outcome: ve.state === 'running' ? 'running' : isFinalState(ve.state) ? 'ended' : 'waiting', detail };
  }
  const job = await deps.batch.getJob(jobId);
  if (job === undefined || job.state === 'completed') return { outcome: 'ended', detail: 'the job ended before the VE ran' };
  if (job.state === 'running') return { outcome: 'waiting', detail: `starting on ${job.execHosts.join(',') || 'its host'}` };
  return { outcome: 'waiting', detail: `pending: ${job.waitReason ?? job.rawState}` };
}

/** `ve create --wait`: until LDAP shows the VE running; what it waits for is shown while it waits. */
export async function waitForVeRunning(jobId: string, timeoutMs: number, deps: WaitForVeDeps): Promise<string> {
  const deadline = deps.clock.now().getTime() + timeoutMs;
  let last = { outcome: 'waiting', detail: 'submitted' };
  for (;;) {
    last = await describeWait(jobId, deps);
    deps.progress.update(last.detail);
    if (last.outcome === 'running') {
      deps.progress.finish('running');
      return 'running';
    }
    if (last.outcome === 'ended') {
      deps.progress.finish(last.detail);
      throw new VeError('ve-not-started', 'exec', `job ${jobId}: ${last.detail} (see ve show ${jobId})`, { details: { jobId } });
    }
    if (deps.clock.now().getTime() >= deadline) break;
    await deps.clock.sleep(POLL_MS);
  }
  deps.progress.finish(`still ${last.detail}`);
  throw new VeError('wait-timeout', 'exec', `job ${jobId}: not running after ${Math.round(timeoutMs / 1000)} s, ${last.detail}; the job stays submitted (ve show ${jobId}, ve destroy ${jobId})`, { details: { jobId } });
}
