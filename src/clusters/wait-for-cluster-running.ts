// `ve cluster up --wait`: until LDAP shows every member running; one progress line says how many run
// and what the first waiting member waits for.
import { VeError } from '../core/ve-error.js';
import { isFinalState } from '../core/ve-state.js';
import type { WaitForVeDeps } from '../qsub-wrappers/wait-for-ve-running.js';
import type { SubmittedMember } from './bring-cluster-up.js';

// one LDAP read per member per half second: a 64-member cluster stays far below what slapd answers
const POLL_MS = 500;

export async function waitForClusterRunning(members: readonly SubmittedMember[], timeoutMs: number, deps: WaitForVeDeps): Promise<void> {
  const deadline = deps.clock.now().getTime() + timeoutMs;
  const running = new Set<string>();
  let detail = 'submitted';
  for (;;) {
    const waiting = members.filter((m) => !running.has(m.jobId));
    const seen = await Promise.all(waiting.map(async (m) => ({ m, ve: await deps.inventory.getVe(m.jobId) })));
    for (const { m, ve } of seen) {
      if (ve?.state === 'running') running.add(m.jobId);
      else if (ve !== undefined && isFinalState(ve.state)) {
        deps.progress.finish(`${m.name} ${ve.state}`);
        throw new VeError('ve-not-started', 'exec', `member ${m.name} (job ${m.jobId}) is ${ve.state} (see ve show ${m.jobId}); the cluster stays up, ve-monitor reconcile recreates it`, { details: { jobId: m.jobId } });
      }
    }
    const next = members.find((m) => !running.has(m.jobId));
    if (next === undefined) {
      deps.progress.finish(`all ${members.length} members running`);
      return;
    }
    const job = (await deps.inventory.getVe(next.jobId)) === undefined ? await deps.batch.getJob(next.jobId) : undefined;
    detail = `${running.size}/${members.length} running; ${next.name}: ${job === undefined ? 'starting' : job.state === 'running' ? `starting on ${job.execHosts.join(',')}` : `pending: ${job.waitReason ?? job.rawState}`}`;
    deps.progress.update(detail);
    if (deps.clock.now().getTime() >= deadline) break;
    await deps.clock.sleep(POLL_MS);
  }
  deps.progress.finish(`still ${detail}`);
  throw new VeError('wait-timeout', 'exec', `cluster: not every member running after ${Math.round(timeoutMs / 1000)} s (${detail}); the members stay submitted (ve cluster status, ve cluster down)`);
}
