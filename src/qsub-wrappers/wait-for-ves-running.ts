// `ve create --count N --wait`: until LDAP shows all N running. Each poll is two listings whatever N is
// (the owner's live VEs, their batch jobs), not one read per VE; one progress line says how many run and
// what the first waiting one waits for.
import { VeError } from '../core/ve-error.js';
import { isFinalState } from '../core/ve-state.js';
import type { WaitForVeDeps } from './wait-for-ve-running.js';

export interface WaitForVesDeps extends WaitForVeDeps {
  readonly owner: string;
  readonly veQueue: string;
}

// two listings a poll: at 500 ms slapd and the batch server barely notice, and a wait ends at most 0.5 s late
const POLL_MS = 500;
/** the timeout error names at most this many VEs that do not run (then "and N more") */
const NAMED_AT_MOST = 50;

// What one VE still waits for, from the poll's listings (LDAP's state, else the batch system's reason).
function describeWaiting(ve: { readonly jobId: string }, live: ReadonlyMap<string, { state: string; host: string }>, jobs: ReadonlyMap<string, { state: string; waitReason?: string | undefined; rawState: string; execHosts: readonly string[] }>): string {
  const entry = live.get(ve.jobId);
  if (entry !== undefined) return `${entry.state}${entry.host === '' ? '' : ` on ${entry.host}`}`;
  const job = jobs.get(ve.jobId);
  if (job === undefined) return 'starting';
  return job.state === 'running' ? `starting on ${job.execHosts.join(',') || 'its host'}` : `pending: ${job.waitReason ?? job.rawState}`;
}

// Names the VEs that do not run, at most NAMED_AT_MOST of them.
function nameWaiting(names: readonly string[]): string {
  const shown = names.slice(0, NAMED_AT_MOST).join(', ');
  return names.length > NAMED_AT_MOST ? `${shown} and ${names.length - NAMED_AT_MOST} more` : shown;
}

/** Until every VE runs; a VE that ends first, or the timeout, is an error naming which. The jobs stay submitted. */
export async function waitForVesRunning(ves: readonly { readonly name: string; readonly jobId: string }[], timeoutMs: number, deps: WaitForVesDeps): Promise<void> {
  const deadline = deps.clock.now().getTime() + timeoutMs;
  const running = new Set<string>();
  let detail = 'submitted';
  for (;;) {
    const [liveList, jobList] = await Promise.all([deps.inventory.listVes({ owner: deps.owner }), deps.batch.listJobs({ queue: deps.veQueue, owner: deps.owner })]);
    const live = new Map(liveList.map((v) => [v.jobId, v]));
    const jobs = new Map(jobList.filter((j) => j.state !== 'completed').map((j) => [j.jobId, j]));
    for (const ve of ves) if (live.get(ve.jobId)?.state === 'running') running.add(ve.jobId);
    // a final entry, or neither a live entry nor a live job: it ended (LDAP says how), or its first event is on its way
    const unseen = ves.filter((v) => !running.has(v.jobId) && (!live.has(v.jobId) ? !jobs.has(v.jobId) : isFinalState(live.get(v.jobId)?.state ?? 'running')));
    for (const ve of unseen) {
      const entry = live.get(ve.jobId) ?? await deps.inventory.getVe(ve.jobId);
      if (entry?.state === 'running') running.add(ve.jobId);
      else if (entry === undefined || isFinalState(entry.state)) {
        const how = entry === undefined ? 'the job ended before the VE ran' : entry.state;
        deps.progress.finish(`${ve.name} ${how}`);
        throw new VeError('ve-not-started', 'exec', `VE ${ve.name} (job ${ve.jobId}): ${how} (see ve show ${ve.jobId}); the other VEs stay submitted`, { details: { jobId: ve.jobId } });
      }
    }
    const waiting = ves.filter((v) => !running.has(v.jobId));
    const next = waiting[0];
    if (next === undefined) {
      deps.progress.finish(`all ${ves.length} running`);
      return;
    }
    detail = `${running.size}/${ves.length} running; ${next.name}: ${describeWaiting(next, live, jobs)}`;
    deps.progress.update(detail);
    if (deps.clock.now().getTime() >= deadline) {
      deps.progress.finish(`still ${detail}`);
      throw new VeError('wait-timeout', 'exec', `not running after ${Math.round(timeoutMs / 1000)} s: ${nameWaiting(waiting.map((v) => v.name))} (${detail}); the jobs stay submitted (ve list, ve destroy)`, { details: { jobIds: waiting.map((v) => v.jobId) } });
    }
    await deps.clock.sleep(POLL_MS);
  }
}
