// `ve cluster down`: the intent job first (so ve-monitor never recreates a member being taken down),
// then every member's job; the epilogues tear the VEs down, ve-monitor records the cluster down.
import { VeError } from '../core/ve-error.js';
import { findClusterJobs } from './find-cluster-jobs.js';
import type { Batch } from '../batch/batch.js';

export async function takeClusterDown(deps: { readonly batch: Batch; readonly veQueue: string }, name: string, owner: string): Promise<{ intentJobIds: string[]; memberJobIds: string[] }> {
  const found = findClusterJobs(await deps.batch.listJobs({ queue: deps.veQueue, owner }), owner, name);
  if (found.intents.length === 0 && found.members.length === 0) throw new VeError('cluster-not-found', 'prereq', `name: you have no cluster named "${name}" up`, { field: 'name' });
  const intentJobIds = found.intents.map((i) => i.jobId);
  for (const id of intentJobIds) await deps.batch.cancel(id);
  const memberJobIds = found.members.map((m) => m.job.jobId);
  await Promise.all(memberJobIds.map((id) => deps.batch.cancel(id)));
  return { intentJobIds, memberJobIds };
}
