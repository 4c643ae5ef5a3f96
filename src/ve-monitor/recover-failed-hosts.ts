import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { dirname } from 'node:path';
import { applyEvent } from './apply-event.js';
import { nextMonitorSeq } from './next-monitor-seq.js';
import { findJobSpec } from '../batch/find-job-spec.js';
import type { ClusterView } from './reconcile.js';
import type { Alert, AlertOutcome } from './send-alert.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Inventory, LiveVe } from '../inventory/inventory.js';
import type { Clock } from '../core/clock.js';

export const DEFAULT_HOST_DOWN_GRACE_MS = 2 * 60_000;
/** the node note of a fence; an admin who reads it knows the VEs of that node run elsewhere now */
export const FENCE_NOTE = 'pbs-ve: fenced after failure';

export interface RecoverFailedHostsDeps {
  readonly inventory: Inventory;
  readonly batch: Batch;
  readonly clock: Clock;
  readonly veQueue: string;
  /** JSON: when each down host was first seen down and when it was fenced (<stateDir>/monitor/down-hosts.json) */
  readonly stateFile: string;
  readonly alert: (alert: Alert) => Promise<AlertOutcome>;
  readonly log: (line: string) => void;
}

export interface HostRecovery {
  readonly host: string;
  /** ISO 8601: the first pass that saw the host down */
  readonly downSince: string;
  /** watching: inside the grace time; fenced: drained by this pass; would-fence: --dry-run */
  readonly action: 'watching' | 'fenced' | 'already-fenced' | 'would-fence' | 'fence-failed';
  /** VE jobs this pass requeued */
  readonly requeued: readonly string[];
  /** VE jobs the batch system had requeued itself (Slurm does on node failure) */
  readonly requeuedByBatch: readonly string[];
  /** "jobId: why" for requeues that failed */
  readonly failed: readonly string[];
  readonly detail: string;
}

interface DownHost {
  readonly since: string;
  readonly fenced?: string;
}

const JOB_ON_HOST: ReadonlySet<BatchJob['state']> = new Set(['running', 'exiting']);
const JOB_WAITING: ReadonlySet<BatchJob['state']> = new Set(['queued', 'held']);

// A lost or torn state file only restarts the grace time: it can delay a fence, never cause one.
function readDownHosts(file: string): Map<string, DownHost> {
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const out = new Map<string, DownHost>();
    for (const [host, v] of Object.entries(raw)) {
      const entry = v as Partial<DownHost> | null;
      if (typeof entry?.since !== 'string' || Number.isNaN(Date.parse(entry.since))) continue;
      out.set(host, typeof entry.fenced === 'string' ? { since: entry.since, fenced: entry.fenced } : { since: entry.since });
    }
    return out;
  } catch {
    return new Map();
  }
}

// Atomic replace, so a crash of the cron pass never leaves half a file behind.
function writeDownHosts(file: string, hosts: ReadonlyMap<string, DownHost>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileNoFollow(file, `${JSON.stringify(Object.fromEntries(hosts), null, 2)}\n`, { mode: 0o600 });
}

// History is the only place the recovery leaves for users to read: one "unknown" entry saying what happened.
async function recordRecovery(deps: RecoverFailedHostsDeps, jobId: string, host: string, reason: string): Promise<void> {
  const ve = await deps.inventory.getVe(jobId);
  if (ve === undefined) return;
  await applyEvent(deps.inventory, {
    ...ve, version: 1, seq: nextMonitorSeq(ve.seq), state: 'unknown', host, source: 'recovery', reason, at: deps.clock.now().toISOString(),
  });
}

/**
 * Host failure recovery, after a reconcile pass and on the same read: a node down for graceMs is
 * fenced first (drained, so nothing it still runs can come back as a second copy), then its VE jobs
 * are requeued for the scheduler to place elsewhere. A fence that fails stops the recovery of that
 * host: a VE running twice is worse than a VE waiting for an administrator.
 */
export async function recoverFailedHosts(
  deps: RecoverFailedHostsDeps,
  view: ClusterView,
  options: { readonly graceMs: number; readonly dryRun: boolean },
): Promise<HostRecovery[]> {
  if (view.nodes === undefined) {
    deps.log(`ve-monitor: host recovery skipped, the node listing failed: ${view.nodesProblem ?? 'unknown reason'}`);
    return [];
  }
  const now = deps.clock.now();
  const previous = readDownHosts(deps.stateFile);
  const next = new Map<string, DownHost>();
  const vesByHost = new Map<string, LiveVe[]>();
  for (const ve of view.ves) vesByHost.set(ve.host, [...(vesByHost.get(ve.host) ?? []), ve]);
  const jobs = new Map(view.jobs.map((j) => [j.jobId, j]));
  const known = new Set(view.ves.map((v) => v.jobId));
  const results: HostRecovery[] = [];
  for (const node of view.nodes) {
    if (node.state !== 'down') continue;
    const host = node.name;
    const prev = previous.get(host);
    const since = prev?.since ?? now.toISOString();
    const downForMs = now.getTime() - Date.parse(since);
    const base = { host, downSince: since, requeued: [] as string[], requeuedByBatch: [] as string[], failed: [] as string[] };
    if (downForMs < options.graceMs) {
      next.set(host, { since });
      if (prev === undefined && !options.dryRun) await deps.alert({ kind: 'host-down', key: host, text: `pbs-ve: host ${host} is down (${node.rawState}); fenced and its VEs requeued after ${Math.round(options.graceMs / 1000)} s unless it returns` });
      results.push({ ...base, action: 'watching', detail: `down for ${Math.round(downForMs / 1000)} s of ${Math.round(options.graceMs / 1000)} s grace` });
      continue;
    }
    // VE jobs still placed on the dead host: ours to requeue (LDAP knows them, or they carry a VE spec)
    const stranded = view.jobs.filter((j) => j.queue === deps.veQueue && JOB_ON_HOST.has(j.state) && j.execHosts.includes(host) && (known.has(j.jobId) || findJobSpec(j) !== undefined));
    if (options.dryRun) {
      results.push({ ...base, action: 'would-fence', detail: `down for ${Math.round(downForMs / 1000)} s; would drain it and requeue ${stranded.length} VE job(s)` });
      continue;
    }
    if (prev?.fenced === undefined) {
      try {
        await deps.batch.setNodeOffline(host, FENCE_NOTE);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        next.set(host, { since });
        await deps.alert({ kind: 'fence-failed', key: host, text: `pbs-ve: host ${host} is down but could not be fenced, its VEs are NOT requeued: ${why}` });
        results.push({ ...base, action: 'fence-failed', detail: why });
        continue;
      }
    }
    const fencedNow = prev?.fenced === undefined;
    const fenced = prev?.fenced ?? now.toISOString();
    next.set(host, { since, fenced });
    for (const job of stranded) {
      try {
        // the host is fenced and down: its batch daemon cannot agree to the rerun (TORQUE needs qrerun -f)
        await deps.batch.requeue(job.jobId, { hostDown: true });
        base.requeued.push(job.jobId);
        await recordRecovery(deps, job.jobId, host, `requeued: host ${host} down since ${since}, fenced (drained)`);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        base.failed.push(`${job.jobId}: ${why}`);
        await deps.alert({ kind: 'requeue-failed', key: job.jobId, text: `pbs-ve: VE job ${job.jobId} on failed host ${host} could not be requeued: ${why}` });
      }
    }
    if (fencedNow) {
      // the batch system may have requeued them itself when it declared the node down: say so once
      for (const ve of vesByHost.get(host) ?? []) {
        const job = jobs.get(ve.jobId);
        // waiting again, or already started elsewhere (a per-host sandbox or a fast scheduler restarts it within the grace)
        const requeuedByBatch = job !== undefined && (JOB_WAITING.has(job.state) || (JOB_ON_HOST.has(job.state) && job.execHosts.length > 0 && !job.execHosts.includes(host)));
        if (job === undefined || !requeuedByBatch || base.requeued.includes(ve.jobId)) continue;
        base.requeuedByBatch.push(ve.jobId);
        await recordRecovery(deps, ve.jobId, host, `host ${host} down since ${since}, fenced (drained); the batch system requeued the job`);
      }
      const moved = [...base.requeued, ...base.requeuedByBatch];
      await deps.alert({ kind: 'host-fenced', key: host, text: `pbs-ve: host ${host} down since ${since} was fenced (drained, note "${FENCE_NOTE}"); ${moved.length} VE job(s) requeued: ${moved.join(' ') || '(none)'}; resume the node by hand once it is repaired` });
    }
    results.push({ ...base, action: fencedNow ? 'fenced' : 'already-fenced', detail: `down for ${Math.round(downForMs / 1000)} s` });
  }
  if (!options.dryRun) writeDownHosts(deps.stateFile, next);
  return results;
}
