import { parseDomainName } from '../core/build-domain-name.js';
import type { BatchJob } from '../batch/batch.js';

/** The pbsve-* domains one host has that none of its VE records claims, running or not. */
export interface HostDomainReport {
  readonly host: string;
  readonly domains: readonly { readonly name: string; readonly state: string }[];
}

export interface OrphanDomain {
  readonly host: string;
  readonly domain: string;
  /** the job the name points to; undefined for a pbsve-* name no job id could produce */
  readonly jobId: string | undefined;
  readonly state: string;
  /** ISO 8601: the first report that showed it as an orphan */
  readonly firstSeen: string;
  /** report: tell the admin and wait; destroy: grace period over and still no job claims it */
  readonly action: 'report' | 'destroy';
  readonly reason: string;
}

export interface OrphanClassification {
  readonly orphans: readonly OrphanDomain[];
  /** "<host>/<domain>" -> firstSeen, to keep for the next pass (claimed or vanished domains dropped) */
  readonly firstSeen: ReadonlyMap<string, string>;
}

export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000;

// A job claims a domain while it lives and runs on that host, or is not placed yet (a requeued job
// may come back to this host, and its prologue deals with a leftover domain of its own name).
function findClaim(host: string, jobId: string, jobs: ReadonlyMap<string, BatchJob>): string | undefined {
  const job = jobs.get(jobId);
  if (job === undefined || job.state === 'completed') return undefined;
  if (job.execHosts.includes(host)) return `job ${jobId} runs here`;
  if (job.execHosts.length === 0) return `job ${jobId} is ${job.state}, not placed yet`;
  return undefined;
}

// Why the domain has no owner, in words for the drift report.
function describeOrphan(host: string, jobId: string | undefined, jobs: ReadonlyMap<string, BatchJob>): string {
  if (jobId === undefined) return 'pbsve-* name that no job id produces';
  const job = jobs.get(jobId);
  if (job === undefined) return `job ${jobId} unknown to the batch system`;
  if (job.state === 'completed') return `job ${jobId} has ended (${job.rawState})`;
  return `job ${jobId} runs on ${job.execHosts.join(',')}, not on ${host}`;
}

/**
 * Pure decision for the host hook: a pbsve-* domain no live job claims is an orphan. It is reported at
 * once and destroyed only when it has been an orphan for graceMs and still no job claims it (a late
 * prologue, a slow squeue or a requeue in flight must never cost a VE its domain).
 */
export function classifyOrphanDomains(
  reports: readonly HostDomainReport[],
  jobs: readonly BatchJob[],
  previousFirstSeen: ReadonlyMap<string, string>,
  now: Date,
  graceMs: number = DEFAULT_ORPHAN_GRACE_MS,
): OrphanClassification {
  const byId = new Map(jobs.map((j) => [j.jobId, j]));
  const orphans: OrphanDomain[] = [];
  const firstSeen = new Map<string, string>();
  for (const report of reports) {
    for (const d of report.domains) {
      if (!d.name.startsWith('pbsve-')) continue;
      const jobId = parseDomainName(d.name);
      if (jobId !== undefined && findClaim(report.host, jobId, byId) !== undefined) continue;
      const key = `${report.host}/${d.name}`;
      const seen = previousFirstSeen.get(key) ?? now.toISOString();
      const seenMs = Date.parse(seen);
      // an unreadable stored time restarts the grace period rather than skipping it
      const since = Number.isNaN(seenMs) ? now.toISOString() : seen;
      firstSeen.set(key, since);
      const orphanForMs = now.getTime() - Date.parse(since);
      const reason = describeOrphan(report.host, jobId, byId);
      orphans.push({
        host: report.host, domain: d.name, jobId, state: d.state, firstSeen: since,
        action: orphanForMs >= graceMs ? 'destroy' : 'report',
        reason: orphanForMs >= graceMs ? `${reason}; orphan for ${Math.round(orphanForMs / 1000)} s` : `${reason}; destroyed after ${Math.round(graceMs / 1000)} s if still unclaimed`,
      });
    }
  }
  return { orphans, firstSeen };
}
