// `ve cluster scale NAME --ROLE N`: numbered members of a scalable role added (new jobs, same network, the
// next addresses of the role's block) or removed (highest numbers first). Every member's /etc/hosts already
// names the whole block of each scalable role (listClusterHosts), so the running members resolve the new ones.
import { VeError } from '../core/ve-error.js';
import { readJobIntent } from './cluster-intent-job.js';
import { checkRoleCounts, type ClusterIntent } from './cluster-intent.js';
import { findClusterJobs } from './find-cluster-jobs.js';
import { planClusterMembers } from './plan-cluster-members.js';
import { submitClusterMembers, type SubmittedMember } from './bring-cluster-up.js';
import type { CreateVeDeps } from '../qsub-wrappers/create-ve.js';

export interface ScaleResult {
  readonly added: readonly SubmittedMember[];
  readonly removed: readonly { readonly name: string; readonly jobId: string }[];
  readonly intentJobId: string;
}

export async function scaleCluster(deps: CreateVeDeps, name: string, role: string, count: number, now: Date): Promise<ScaleResult> {
  const found = findClusterJobs(await deps.batch.listJobs({ queue: deps.config.batch.veQueue, owner: deps.owner }), deps.owner, name);
  const newest = found.intents[0];
  if (newest === undefined) throw new VeError('cluster-not-found', 'prereq', `name: you have no cluster named "${name}" up`, { field: 'name' });
  const intent = await readJobIntent(newest, deps.batch);
  if (intent === undefined) throw new VeError('cluster-intent-unreadable', 'exec', `cluster ${name}: the intent job ${newest.jobId} holds no readable intent`);
  const declared = intent.manifest.roles.find((r) => r.role === role);
  if (declared === undefined) throw new VeError('invalid-field', 'prereq', `role: cluster "${name}" has no role "${role}" (roles: ${intent.manifest.roles.map((r) => r.role).join(', ')})`, { field: 'role' });
  if (!declared.scalable) throw new VeError('invalid-field', 'prereq', `role: "${role}" is not scalable in the manifest (scalable: true)`, { field: 'role' });
  const next: ClusterIntent = { ...intent, seq: Math.max(now.getTime(), intent.seq + 1), counts: checkRoleCounts(intent.manifest, { ...intent.counts, [role]: count }) };
  const wanted = new Set(planClusterMembers(next, now).map((p) => p.name));
  const live = found.members.filter((m) => m.spec.cluster?.role === role);
  const toAdd = new Set([...wanted].filter((n) => planClusterMembers(next, now).find((p) => p.name === n)?.role === role && !live.some((m) => m.spec.name === n)));
  // new members and the new intent first: a monitor between the two steps finds nothing missing
  const { members: added, intentJobId } = await submitClusterMembers(next, deps, now, { only: toAdd, withIntent: true });
  for (const old of found.intents) await deps.batch.cancel(old.jobId);
  const removed = live.filter((m) => !wanted.has(m.spec.name))
    .sort((a, b) => b.spec.name.localeCompare(a.spec.name, undefined, { numeric: true }))
    .map((m) => ({ name: m.spec.name, jobId: m.job.jobId }));
  for (const r of removed) await deps.batch.cancel(r.jobId);
  return { added, removed, intentJobId };
}
