// A cluster as the batch system sees it: its live intent job(s) and its members' live VE jobs.
import { findJobSpec } from '../batch/find-job-spec.js';
import { findIntentJobs, type IntentJobSummary } from './cluster-intent-job.js';
import type { BatchJob } from '../batch/batch.js';
import type { VeSpec } from '../core/ve-spec.js';

export interface ClusterJobs {
  /** newest intent first (a scale submits the new intent before it cancels the old one) */
  readonly intents: readonly IntentJobSummary[];
  readonly members: readonly { readonly job: BatchJob; readonly spec: VeSpec }[];
}

// One owner's jobs of one cluster; `jobs` is the owner's listing of the VE queue.
export function findClusterJobs(jobs: readonly BatchJob[], owner: string, name: string): ClusterJobs {
  const intents = findIntentJobs(jobs).filter((i) => i.owner === owner && i.cluster === name)
    .sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0) || b.jobId.localeCompare(a.jobId, undefined, { numeric: true }));
  const members = jobs.filter((j) => j.owner === owner && j.state !== 'completed')
    .map((job) => ({ job, spec: findJobSpec(job) }))
    .filter((m): m is { job: BatchJob; spec: VeSpec } => m.spec?.cluster?.name === name);
  return { intents, members };
}
