// The job that carries a cluster's intent: held (it never runs, holds no resources), owned by the cluster's
// owner (the batch system vouches for that), alive as long as the cluster is. `ve cluster down` cancels it.
import { decodeClusterIntent, encodeClusterIntent, type ClusterIntent } from './cluster-intent.js';
import { CLUSTER_NAME_PATTERN } from '../core/validate-ve-spec.js';
import type { Batch, BatchJob, SubmitRequest } from '../batch/batch.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

/** TORQUE: the whole intent (root cannot read a TORQUE job's script back); Slurm: not readable, unused */
export const CLUSTER_VARIABLE = 'VE_CLUSTER';
/** the job comment (Slurm): <name>:<seq>:<createdAt, epoch s>:<lease s>, so listings tell the lease without the script */
export const CLUSTER_COMMENT_PREFIX = 'pbs-ve-cluster:';
const SCRIPT_MARKER = '# pbs-ve cluster ';
const JOB_NAME_PREFIX = 'vc-';

// Held on purpose: released by mistake it ends at once, on whichever host took it (no VE spec: no prologue work).
export function buildIntentJobRequest(intent: ClusterIntent, config: PbsVeConfig): SubmitRequest {
  const token = encodeClusterIntent(intent);
  return {
    name: `${JOB_NAME_PREFIX}${intent.manifest.name}`,
    queue: config.batch.veQueue,
    cpus: 1,
    memoryMiB: config.minMemoryMiB,
    walltimeSeconds: Math.min(intent.manifest.leaseSeconds, config.batch.maxLeaseSeconds),
    features: [],
    nodeCount: 1,
    variables: { [CLUSTER_VARIABLE]: token },
    comment: `${CLUSTER_COMMENT_PREFIX}${intent.manifest.name}:${intent.seq}:${Math.floor(Date.parse(intent.createdAt) / 1000)}:${intent.manifest.leaseSeconds}`,
    script: ['#!/bin/sh', `${SCRIPT_MARKER}${token}`, `# pbs-ve: the intent of virtual cluster "${intent.manifest.name}"; held, never meant to run`, 'exit 0', ''].join('\n'),
    hold: true,
  };
}

/** what a listing tells of an intent job without its token: the cluster's name (and seq where the comment says it) */
export interface IntentJobSummary {
  readonly jobId: string;
  readonly owner: string;
  readonly cluster: string;
  readonly seq: number | undefined;
  /** ISO 8601, when the listing tells it (the owner may have edited it: for display only) */
  readonly createdAt: string | undefined;
  readonly leaseSeconds: number | undefined;
  readonly job: BatchJob;
}

// What the listing tells of the intent: the TORQUE variable decodes whole, the Slurm comment has the numbers.
function summarize(job: BatchJob, cluster: string, marker: readonly string[] | undefined): Pick<IntentJobSummary, 'seq' | 'createdAt' | 'leaseSeconds'> {
  const token = job.variables[CLUSTER_VARIABLE];
  if (token !== undefined) {
    try {
      const intent = decodeClusterIntent(token);
      return { seq: intent.seq, createdAt: intent.createdAt, leaseSeconds: intent.manifest.leaseSeconds };
    } catch {
      return { seq: undefined, createdAt: undefined, leaseSeconds: undefined };
    }
  }
  const number = (text: string | undefined): number | undefined => (text !== undefined && /^[0-9]{1,16}$/.test(text) ? Number(text) : undefined);
  const ours = marker?.[0] === cluster;
  const created = ours ? number(marker[2]) : undefined;
  return { seq: ours ? number(marker[1]) : undefined, createdAt: created === undefined ? undefined : new Date(created * 1000).toISOString(), leaseSeconds: ours ? number(marker[3]) : undefined };
}

// Intent jobs among a queue's jobs, alive only (a completed or cancelled intent is a cluster taken down).
export function findIntentJobs(jobs: readonly BatchJob[]): IntentJobSummary[] {
  const out: IntentJobSummary[] = [];
  for (const job of jobs) {
    if (job.state === 'completed' || !job.name.startsWith(JOB_NAME_PREFIX)) continue;
    const cluster = job.name.slice(JOB_NAME_PREFIX.length);
    if (!CLUSTER_NAME_PATTERN.test(cluster)) continue;
    const marker = job.comment?.startsWith(CLUSTER_COMMENT_PREFIX) === true ? job.comment.slice(CLUSTER_COMMENT_PREFIX.length).split(':') : undefined;
    if (job.variables[CLUSTER_VARIABLE] === undefined && marker === undefined) continue;
    out.push({ jobId: job.jobId, owner: job.owner, cluster, ...summarize(job, cluster, marker), job });
  }
  return out;
}

/**
 * The intent an intent job carries, re-validated; undefined when it holds none that decodes (the owner may
 * have edited it: then there is no intent to act on). The Slurm script is readable by root only (ve-monitor).
 */
export async function readJobIntent(summary: IntentJobSummary, batch: Batch): Promise<ClusterIntent | undefined> {
  let token = summary.job.variables[CLUSTER_VARIABLE];
  if (token === undefined) {
    const script = await batch.readJobScript(summary.jobId);
    token = script?.split('\n', 8).find((l) => l.startsWith(SCRIPT_MARKER))?.slice(SCRIPT_MARKER.length).trim();
  }
  if (token === undefined) return undefined;
  try {
    const intent = decodeClusterIntent(token);
    // the job's name is what listings show: an intent naming another cluster is no intent of this one
    return intent.manifest.name === summary.cluster ? intent : undefined;
  } catch {
    return undefined;
  }
}
