// `ve create NAME --count N`: N identical VEs NAME-1 .. NAME-N for the price of one `ve` (issue 12's boot
// storm). Every check for all N first, with one listing of the owner's live VEs, one of their batch jobs and
// one of the nodes; then the N jobs, a few submissions at a time; all or nothing, like `ve cluster up`.
import { invalidField, VeError } from '../core/ve-error.js';
import { validateVeSpec, type RawVeSpec } from '../core/validate-ve-spec.js';
import { expandVeNames } from '../core/expand-ve-names.js';
import { settleBounded } from '../core/settle-bounded.js';
import { checkUserLimitsForAll, type HeldVe } from '../core/check-user-limits.js';
import { countVeNodes, type VeSpec } from '../core/ve-spec.js';
import { isFinalState } from '../core/ve-state.js';
import { findJobSpec } from '../batch/find-job-spec.js';
import { cancelSubmittedJobs } from '../batch/cancel-submitted-jobs.js';
import type { BatchJob } from '../batch/batch.js';
import type { VeRecord } from '../inventory/inventory.js';
import { toPendingRow } from './list-ves.js';
import { addDefaultSshKeys, checkCreateArguments, checkImagePrerequisites, findClusterBounds, submitVeJob, type CreateVeDeps } from './create-ve.js';

/** at most this many submissions (sbatch/qsub processes) at once */
export const SUBMIT_CONCURRENCY = 8;

export interface CreatedVe {
  readonly name: string;
  readonly jobId: string;
  readonly spec: VeSpec;
}

/** What the owner holds, from the two listings every check of the N reads. */
interface OwnerHoldings {
  /** null: LDAP unreachable (names checked against the batch jobs only, limits left to the batch system) */
  readonly live: readonly VeRecord[] | null;
  readonly jobs: readonly BatchJob[];
}

// Options that would be the same for all N VEs where each needs its own: refused, naming the option.
function refuseSharedOptions(raw: RawVeSpec): void {
  if (raw.hostname !== undefined) throw invalidField('hostname', 'cannot be given with --count: each VE\'s host name is its own name (NAME-1 .. NAME-N)', raw.hostname);
  const addresses = Array.isArray(raw.addresses) ? (raw.addresses as unknown[]) : [];
  const fixed = addresses.find((a) => a !== '' && a !== undefined);
  if (fixed !== undefined) throw invalidField('network', 'a static address (NET=A.B.C.D/LEN) cannot be given with --count: N VEs cannot share one address', fixed);
}

// Both listings at once, each once for all N (one at a time they were most of `ve create`'s time).
async function listOwnerHoldings(deps: CreateVeDeps): Promise<OwnerHoldings> {
  // final entries are history (the adapter leaves them out unless asked; said here too)
  const live = deps.inventory.listVes({ owner: deps.owner }).then((v): readonly VeRecord[] | null => v.filter((e) => !isFinalState(e.state)), (err: unknown) => {
    if (!(err instanceof VeError) || err.kind !== 'environment') throw err;
    (deps.warn ?? ((l: string) => { process.stderr.write(`${l}\n`); }))(`ve: warning: the inventory is unreachable (${err.message}); names checked against your batch jobs only, per-user limits left to the batch system`);
    return null;
  });
  const jobs = deps.batch.listJobs({ queue: deps.config.batch.veQueue, owner: deps.owner });
  // a check that fails first leaves one of these unawaited: its failure is then nobody's news
  live.catch(() => undefined);
  jobs.catch(() => undefined);
  return { live: await live, jobs: await jobs };
}

// No name of the N may be a live VE or a queued job of the owner; every clash is named at once.
function checkNamesFree(specs: readonly VeSpec[], held: OwnerHoldings): void {
  const taken = new Map<string, string>();
  for (const ve of held.live ?? []) taken.set(ve.name, ve.jobId);
  for (const job of held.jobs) {
    const name = job.state === 'completed' ? undefined : findJobSpec(job)?.name;
    if (name !== undefined && !taken.has(name)) taken.set(name, job.jobId);
  }
  const clashes = specs.filter((s) => taken.has(s.name));
  if (clashes.length === 0) return;
  const listed = clashes.map((s) => `"${s.name}" (job ${taken.get(s.name) ?? '?'})`).join(', ');
  throw invalidField('name', `you already have ${clashes.length === 1 ? 'a VE named' : 'VEs named'} ${listed}; destroy ${clashes.length === 1 ? 'it' : 'them'} or pick another name`, clashes[0]?.name);
}

// The per-user limits against the N together: each one is counted in before the next is checked.
// A job whose LDAP entry is not live (one ending now) counts as held until it is gone: the safe side.
function checkLimitsForAll(specs: readonly VeSpec[], held: OwnerHoldings, deps: CreateVeDeps): void {
  const limits = deps.config.limits;
  if (limits === undefined || held.live === null) return;
  const liveIds = new Set(held.live.map((v) => v.jobId));
  const holding: HeldVe[] = [
    ...held.live.map((v) => ({ vcpus: v.vcpus, memoryMiB: v.memoryMiB, nodes: v.nodes ?? 1 })),
    ...held.jobs.filter((j) => !liveIds.has(j.jobId)).flatMap((j) => { const row = toPendingRow(j); return row === undefined ? [] : [row]; }),
  ];
  checkUserLimitsForAll(holding, specs.map((spec) => ({ vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, nodes: countVeNodes(spec) })), limits);
}

/** Every check of `ve create --count` for all N, asking nothing of the batch system but listings: the specs to submit. */
export async function checkVesCreate(raw: RawVeSpec, count: number, deps: CreateVeDeps): Promise<VeSpec[]> {
  refuseSharedOptions(raw);
  const raws = expandVeNames(raw.name, count).map((name) => ({ ...raw, name }));
  for (const r of raws) checkCreateArguments(r, deps.config);
  const holdings = listOwnerHoldings(deps);
  holdings.catch(() => undefined);
  const bounds = await findClusterBounds(raw, deps);
  const specs = raws.map((r) => validateVeSpec(r, bounds));
  const first = specs[0];
  if (first === undefined) return [];
  // the N differ only in their names: image, networks and keys are checked (and read) once
  const keyed = addDefaultSshKeys(first, await checkImagePrerequisites(first, deps), deps);
  const held = await holdings;
  checkNamesFree(specs, held);
  checkLimitsForAll(specs, held, deps);
  return specs.map((s) => (keyed.sshKeys === undefined ? s : { ...s, sshKeys: keyed.sshKeys }));
}

/**
 * `ve create --count N`: all N checked, then submitted SUBMIT_CONCURRENCY at a time; when one submission
 * fails, none more starts and every job submitted is cancelled (the error names any that could not be).
 * Nothing is written to LDAP; the result is in name order.
 */
export async function createVes(raw: RawVeSpec, count: number, deps: CreateVeDeps): Promise<CreatedVe[]> {
  const specs = await checkVesCreate(raw, count, deps);
  const results = await settleBounded(specs, SUBMIT_CONCURRENCY, async (spec) => ({ name: spec.name, jobId: await submitVeJob(spec, deps), spec }));
  const created = results.flatMap((r) => (r?.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r?.status === 'rejected');
  if (failure !== undefined) throw await cancelSubmittedJobs(created.map((c) => c.jobId), deps.batch, failure.reason);
  return created;
}
