// `ve cluster up`: the manifest checked against the site for every member before anything is submitted,
// then one VE job per member through ve create's own path, then the held intent job; a failure half-way
// cancels what was submitted.
import { VeError } from '../core/ve-error.js';
import { checkVeCreate, submitVeJob, type CreateVeDeps } from '../qsub-wrappers/create-ve.js';
import { buildIntentJobRequest } from './cluster-intent-job.js';
import { findClusterJobs } from './find-cluster-jobs.js';
import { planClusterMembers } from './plan-cluster-members.js';
import { countRoles, type RoleCounts } from './plan-cluster-addresses.js';
import type { ClusterIntent } from './cluster-intent.js';
import type { ClusterManifest } from './parse-cluster-manifest.js';
import type { VeSpec } from '../core/ve-spec.js';
import { checkUserLimitsForAll, type HeldVe } from '../core/check-user-limits.js';
import { isFinalState } from '../core/ve-state.js';
import { listVes } from '../qsub-wrappers/list-ves.js';
import { cancelSubmittedJobs } from '../batch/cancel-submitted-jobs.js';

export interface SubmittedMember {
  readonly name: string;
  readonly role: string;
  readonly address: string;
  readonly jobId: string;
}

export interface ClusterUpResult {
  readonly cluster: string;
  readonly intentJobId: string;
  readonly members: readonly SubmittedMember[];
}

// Every member's checks at once (each is ve create's): all must pass before the first submission.
async function checkMembers(intent: ClusterIntent, deps: CreateVeDeps, now: Date, only?: ReadonlySet<string>): Promise<{ name: string; role: string; address: string; spec: VeSpec }[]> {
  const plans = planClusterMembers(intent, now).filter((p) => only === undefined || only.has(p.name));
  return Promise.all(plans.map(async (p) => ({ name: p.name, role: p.role, address: p.address, spec: await checkVeCreate(p.raw, deps) })));
}

// ve create checks each member against the owner's limits alone: together they must fit too.
async function checkMembersFitLimits(specs: readonly VeSpec[], deps: CreateVeDeps): Promise<void> {
  const limits = deps.config.limits;
  if (limits === undefined || specs.length < 2) return;
  let held: HeldVe[];
  try {
    held = (await listVes({ inventory: deps.inventory, batch: deps.batch, veQueue: deps.config.batch.veQueue }, { all: false, owner: deps.owner })).filter((r) => !isFinalState(r.state));
  } catch (err) {
    // LDAP down: each member's own check already warned and left the limits to the batch system
    if (err instanceof VeError && err.kind === 'environment') return;
    throw err;
  }
  checkUserLimitsForAll(held, specs.map((spec) => ({ vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, nodes: 1 })), limits);
}

/**
 * Submits the given members (all at once) and then, withIntent, the intent (last: a monitor that sees the
 * intent must find its members submitted, or it would recreate them); on any failure cancels every job it
 * submitted and rethrows, naming jobs it could not cancel. Shared by up, scale and reconcile.
 */
export async function submitClusterMembers(intent: ClusterIntent, deps: CreateVeDeps, now: Date, options: { readonly only?: ReadonlySet<string>; readonly withIntent: boolean }): Promise<{ members: SubmittedMember[]; intentJobId: string }> {
  const only = options.only;
  const checked = await checkMembers(intent, deps, now, only);
  await checkMembersFitLimits(checked.map((m) => m.spec), deps);
  const results = await Promise.allSettled(checked.map(async (m) => ({ name: m.name, role: m.role, address: m.address, jobId: await submitVeJob(m.spec, deps) })));
  const members = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  let intentJobId = '';
  try {
    if (failure !== undefined) throw failure.reason;
    if (options.withIntent) intentJobId = await deps.batch.submit(buildIntentJobRequest(intent, deps.config));
  } catch (err) {
    throw await cancelSubmittedJobs(members.map((m) => m.jobId), deps.batch, err);
  }
  return { members, intentJobId };
}

// The owner has no cluster of that name while its intent or any member job lives.
export async function checkClusterNameFree(name: string, deps: Pick<CreateVeDeps, 'batch' | 'config' | 'owner'>): Promise<void> {
  const jobs = await deps.batch.listJobs({ queue: deps.config.batch.veQueue, owner: deps.owner });
  const found = findClusterJobs(jobs, deps.owner, name);
  const jobId = found.intents[0]?.jobId ?? found.members[0]?.job.jobId;
  if (jobId !== undefined) throw new VeError('cluster-exists', 'prereq', `name: you already have a cluster named "${name}" (job ${jobId}); ve cluster down ${name} first, or pick another name`, { field: 'name' });
}

/** `ve cluster up`: prints nothing; --wait is the caller's (waitForClusterRunning). */
export async function bringClusterUp(manifest: ClusterManifest, deps: CreateVeDeps, now: Date, counts: RoleCounts = countRoles(manifest)): Promise<ClusterUpResult> {
  await checkClusterNameFree(manifest.name, deps);
  const intent: ClusterIntent = { seq: now.getTime(), createdAt: now.toISOString(), manifest, counts };
  const { members, intentJobId } = await submitClusterMembers(intent, deps, now, { withIntent: true });
  return { cluster: manifest.name, intentJobId, members };
}
