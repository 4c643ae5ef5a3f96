import { applyEventOnto } from './apply-event.js';
import { nextMonitorSeq } from './next-monitor-seq.js';
import { findJobSpec } from '../batch/find-job-spec.js';
import { SEQ_PER_START } from '../events/next-event-seq.js';
import type { VeState } from '../core/ve-state.js';
import type { Batch, BatchJob, BatchNode } from '../batch/batch.js';
import type { Inventory, LiveVe } from '../inventory/inventory.js';
import type { Clock } from '../core/clock.js';
import type { VeEvent } from '../core/ve-event.js';
import type { HostReport } from '../events/host-report.js';

export interface DriftItem {
  readonly jobId: string;
  readonly name: string;
  readonly finding: 'job-gone' | 'unknown-to-ldap' | 'host-down' | 'host-back';
  readonly from: VeState | undefined;
  readonly to: VeState;
  readonly detail: string;
  readonly changed: boolean;
}

export interface ReconcileDeps {
  readonly inventory: Inventory;
  readonly batch: Batch;
  readonly clock: Clock;
  readonly veQueue: string;
}

/** What one pass reads, once: every live VE in LDAP, every job, every node (undefined: nodes unreadable). */
export interface ClusterView {
  /** only the fields the comparison reads: a repair reads the rest of its VE's entry */
  readonly ves: readonly LiveVe[];
  readonly jobs: readonly BatchJob[];
  readonly nodes: readonly BatchNode[] | undefined;
  /** why nodes is undefined */
  readonly nodesProblem: string | undefined;
  /** every host's last orphan-domain report (absent: the inventory keeps none, or they could not be read) */
  readonly hostReports?: readonly HostReport[];
  /** why hostReports is absent although the inventory keeps them */
  readonly hostReportsProblem?: string;
}

const LIVE_STATES: ReadonlySet<VeState> = new Set(['starting', 'running', 'stopping', 'stopped', 'suspended', 'migrating', 'unknown']);
/** states that claim something about the domain on its host: a dead host makes them guesses */
const HOST_BOUND_STATES: ReadonlySet<VeState> = new Set(['starting', 'running', 'stopping', 'stopped', 'suspended', 'migrating']);
const JOB_ON_HOST: ReadonlySet<BatchJob['state']> = new Set(['running', 'exiting']);

function buildReconcileEvent(base: Omit<VeEvent, 'version' | 'source' | 'at'>, clock: Clock): VeEvent {
  return { version: 1, source: 'reconcile', at: clock.now().toISOString(), ...base };
}

// LDAP says it lives but the batch system has no live job for it: the VE cannot be running.
function findLost(ve: LiveVe, jobs: ReadonlyMap<string, BatchJob>): string | undefined {
  if (!LIVE_STATES.has(ve.state)) return undefined;
  const job = jobs.get(ve.jobId);
  if (job === undefined) return 'the batch system no longer knows the job';
  if (job.state === 'completed') return `the job has ended (${job.rawState})`;
  return undefined;
}

// Where the VE is now: the job's first host while it runs there, else the host LDAP last saw it on.
function findVeHost(ve: LiveVe, job: BatchJob | undefined): string {
  return job !== undefined && JOB_ON_HOST.has(job.state) ? (job.execHosts[0] ?? ve.host) : ve.host;
}

// A down or drained host cannot vouch for its domains: the VE is unknown (never stopped) until it reports.
function findHostDown(ve: LiveVe, job: BatchJob | undefined, nodes: ReadonlyMap<string, BatchNode>): string | undefined {
  if (!HOST_BOUND_STATES.has(ve.state)) return undefined;
  const host = findVeHost(ve, job);
  const node = nodes.get(host);
  if (node === undefined || (node.state !== 'down' && node.state !== 'offline')) return undefined;
  return `host ${host} is ${node.state} in the batch system (${node.rawState}${node.note === undefined ? '' : `: ${node.note}`})`;
}

// Our own "unknown" undone: the same start of the job still runs on a host that is up again.
// A new start (requeue) is not ours to report: its prologue does, with a higher seq.
function findHostBack(ve: LiveVe, job: BatchJob | undefined, nodes: ReadonlyMap<string, BatchNode>): string | undefined {
  if (ve.state !== 'unknown' || job?.state !== 'running') return undefined;
  const host = job.execHosts[0];
  if (host === undefined || Math.floor(ve.seq / SEQ_PER_START) !== Math.max(1, job.startCount)) return undefined;
  const node = nodes.get(host);
  if (node === undefined || (node.state !== 'free' && node.state !== 'busy')) return undefined;
  return `host back: the job still runs on ${host} (${node.rawState})`;
}

// undefined: the stored seq is past every bound an event may carry
function findMonitorSeq(seq: number): number | undefined {
  try {
    return nextMonitorSeq(seq);
  } catch {
    return undefined;
  }
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** The one read of a pass; a node or host-report listing that fails leaves its checks out rather than the whole pass. */
export async function readClusterView(deps: ReconcileDeps): Promise<ClusterView> {
  // the two LDAP listings one after the other: both are paged searches on one connection, and slapd keeps
  // one paged search per connection (the second invalidated the first's cookie: "paged results cookie is
  // invalid" once the VEs outnumbered a page); the batch system's listings overlap them
  const readLdap = async (): Promise<[LiveVe[], HostReport[] | Error]> => {
    const ves = await deps.inventory.listLiveVes();
    return [ves, await deps.inventory.listHostReports().then((r): HostReport[] | Error => r, toError)];
  };
  const [[ves, reports], jobs, nodes] = await Promise.all([
    readLdap(),
    deps.batch.listJobs(),
    deps.batch.listNodes().then((n): BatchNode[] | Error => n, toError),
  ]);
  const hosts = reports instanceof Error ? { hostReportsProblem: reports.message } : { hostReports: reports };
  if (nodes instanceof Error) return { ves, jobs, nodes: undefined, nodesProblem: nodes.message, ...hosts };
  return { ves, jobs, nodes, nodesProblem: undefined, ...hosts };
}

/**
 * One cron pass: LDAP and the batch system are compared and LDAP repaired; returns what it found.
 * Linear: one LDAP listing, one job listing (every queue: a VE job moved to another queue still
 * lives) and one node listing, then map lookups; per-item LDAP calls only for drift.
 */
export async function reconcile(deps: ReconcileDeps, options: { readonly dryRun: boolean }, given?: ClusterView): Promise<DriftItem[]> {
  const view = given ?? (await readClusterView(deps));
  const jobs = new Map(view.jobs.map((j) => [j.jobId, j]));
  const nodes = new Map((view.nodes ?? []).map((n) => [n.name, n]));
  const jobList = view.jobs.filter((j) => j.queue === deps.veQueue);
  const drift: DriftItem[] = [];
  const repairs: { item: DriftItem; host: string; seq: number; why: string }[] = [];
  for (const ve of view.ves) {
    const job = jobs.get(ve.jobId);
    const lost = findLost(ve, jobs);
    const down = lost === undefined ? findHostDown(ve, job, nodes) : undefined;
    const back = lost === undefined && down === undefined ? findHostBack(ve, job, nodes) : undefined;
    const finding = lost !== undefined ? 'job-gone' : down !== undefined ? 'host-down' : back !== undefined ? 'host-back' : undefined;
    const why = lost ?? down ?? back;
    if (finding === undefined || why === undefined) continue;
    const to: VeState = finding === 'job-gone' ? 'lost' : finding === 'host-down' ? 'unknown' : 'running';
    const host = finding === 'host-back' ? (job?.execHosts[0] ?? ve.host) : ve.host;
    const seq = findMonitorSeq(ve.seq);
    if (seq === undefined) {
      // a seq past every bound (written before events were bounded): an admin's to look at, never a spin
      drift.push({ jobId: ve.jobId, name: ve.name, finding, from: ve.state, to, detail: `${why}; not written: stored seq ${ve.seq} is out of range`, changed: false });
      continue;
    }
    repairs.push({ item: { jobId: ve.jobId, name: ve.name, finding, from: ve.state, to, detail: why, changed: false }, host, seq, why });
  }
  // each repair touches one VE's entry: several at once, as ve-monitor apply folds events
  await runSideBySide(repairs, async (r) => {
    if (options.dryRun) {
      drift.push(r.item);
      return;
    }
    // the listing carries only what the comparison reads: the event takes the rest from the entry as it is now
    const current = await deps.inventory.getVe(r.item.jobId);
    if (current === undefined) {
      drift.push({ ...r.item, detail: `${r.why}; not written: the entry is gone since the listing` });
      return;
    }
    // not a host slot: the host's own next event (see HOST_SEQ_STEP) still outranks this guess
    const event = buildReconcileEvent({ ...current, host: r.host, seq: r.seq, state: r.item.to, reason: r.why }, deps.clock);
    drift.push({ ...r.item, changed: (await applyEventOnto(deps.inventory, event, current)) === 'applied' });
  });
  const known = new Set(view.ves.map((v) => v.jobId));
  const unknown: { job: BatchJob; name: string }[] = [];
  for (const job of jobList) {
    if (job.state !== 'running' || known.has(job.jobId)) continue;
    // the job comment and variables are the owner's to edit: they may say which jobs to look at, never
    // what a VE is (size, type, host); only the host's signed events create a VE entry
    // (TORQUE shows a non-operator, the vemon account, other users' jobs without their variables: there
    // the name ve create gave the job, ve-<name>, says which jobs to look at)
    const name = findJobSpec(job)?.name ?? (job.name.startsWith('ve-') ? job.name.slice(3) : undefined);
    if (name !== undefined) unknown.push({ job, name });
  }
  const unknownToLdap: DriftItem[] = [];
  await runSideBySide(unknown, async ({ job, name }) => {
    if ((await deps.inventory.getVe(job.jobId)) !== undefined) return;
    unknownToLdap.push({
      jobId: job.jobId, name, finding: 'unknown-to-ldap', from: undefined, to: 'running', changed: false,
      detail: `a job on ${job.execHosts.join(',') || '(no host)'} says it is a VE; not written: only its host's signed events add it to LDAP`,
    });
  });
  // the listing order of LDAP and the batch system, whatever order the side-by-side calls ended in
  const order = new Map(view.ves.map((v, i) => [v.jobId, i]));
  const jobOrder = new Map(jobList.map((j, i) => [j.jobId, i]));
  drift.sort((a, b) => (order.get(a.jobId) ?? 0) - (order.get(b.jobId) ?? 0));
  unknownToLdap.sort((a, b) => (jobOrder.get(a.jobId) ?? 0) - (jobOrder.get(b.jobId) ?? 0));
  return [...drift, ...unknownToLdap];
}

/** LDAP calls about different VEs in flight at once (single-entry operations: no paged search among them) */
const RECONCILE_CONCURRENCY = 8;

// A small pool: the per-drift LDAP round trips of a pass overlap instead of queueing one behind another.
async function runSideBySide<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, items.length) }, worker));
}
