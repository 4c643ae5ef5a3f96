// Reconcile's view of orphan domains: the hosts' last reports, read against the batch listing it has.
import { parseDomainName } from '../core/build-domain-name.js';
import type { HostReport } from '../events/host-report.js';
import type { BatchJob, BatchNode } from '../batch/batch.js';

export interface OrphanDriftItem {
  readonly host: string;
  readonly domain: string;
  /** the job the name points to; undefined for a name no job id produces */
  readonly jobId: string | undefined;
  /** libvirt state when the host reported it */
  readonly state: string;
  /** ISO 8601: when the host first saw it as an orphan */
  readonly since: string;
  /** seconds from since to now */
  readonly ageSeconds: number;
  /** ISO 8601: when the host made the report this item comes from */
  readonly reportedAt: string;
  /** the host is down, offline or not in the node listing: its report may no longer be true */
  readonly stale: boolean;
  /** host-destroys: after the grace, if still unclaimed; claimed: a job claims it now; destroyed / destroy-failed: the host's last word */
  readonly action: 'host-destroys' | 'claimed' | 'destroyed' | 'destroy-failed';
  readonly detail: string;
  /** always false: reconcile destroys nothing, only the host can (as root) */
  readonly changed: false;
}

const NOT_OURS = 'reconcile destroys nothing, only the host can (as root)';

// The same claim rule as the host's classify-orphan-domains: a live job on that host, or not placed yet.
function findClaim(host: string, jobId: string | undefined, jobs: ReadonlyMap<string, BatchJob>): string | undefined {
  const job = jobId === undefined ? undefined : jobs.get(jobId);
  if (job === undefined || job.state === 'completed') return undefined;
  if (job.execHosts.includes(host)) return `kept: job ${job.jobId} claims it now (${job.rawState} on ${host})`;
  if (job.execHosts.length === 0) return `kept: job ${job.jobId} claims it now (${job.rawState}, not placed yet)`;
  return undefined;
}

// What will happen to a still-reported orphan, in words for the drift report.
function describeAction(report: HostReport, o: HostReport['orphans'][number], claim: string | undefined, now: Date, graceMs: number): Pick<OrphanDriftItem, 'action' | 'detail'> {
  if (o.outcome === 'destroyed') return { action: 'destroyed', detail: `destroyed by ${report.host} at ${report.at}` };
  if (claim !== undefined) return { action: 'claimed', detail: `${claim}; the host drops it on its next pass` };
  if (o.outcome === 'destroy-failed') return { action: 'destroy-failed', detail: `the host's destroy failed at ${report.at}; it tries again on its next pass; ${NOT_OURS}` };
  const due = Date.parse(o.firstSeen) + graceMs;
  const when = due <= now.getTime() ? 'on its next pass (grace over)' : `from ${new Date(due).toISOString()}`;
  return { action: 'host-destroys', detail: `${report.host} destroys it ${when} if still unclaimed; ${NOT_OURS}` };
}

/**
 * Pure: one item per orphan in each host's stored report. A report says "destroyed" once and the
 * host's next report drops the name, so a destroyed orphan leaves the drift report by itself.
 */
export function listOrphanDomains(
  reports: readonly HostReport[], jobs: readonly BatchJob[], nodes: readonly BatchNode[] | undefined, now: Date, graceMs: number,
): OrphanDriftItem[] {
  const byId = new Map(jobs.map((j) => [j.jobId, j]));
  const nodeOf = new Map((nodes ?? []).map((n) => [n.name, n]));
  const items: OrphanDriftItem[] = [];
  for (const report of reports) {
    const node = nodeOf.get(report.host);
    // a host gone from the batch system (renamed, retired) keeps its last report in LDAP: shown, marked
    const hostState = nodes === undefined ? undefined : node === undefined ? 'unknown to the batch system' : node.state === 'down' || node.state === 'offline' ? node.state : undefined;
    const stale = hostState !== undefined;
    for (const o of report.orphans) {
      const jobId = parseDomainName(o.domain);
      const { action, detail } = describeAction(report, o, findClaim(report.host, jobId, byId), now, graceMs);
      items.push({
        host: report.host, domain: o.domain, jobId, state: o.state, since: o.firstSeen,
        ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(o.firstSeen)) / 1000)), reportedAt: report.at, stale,
        action, detail: stale ? `stale: ${report.host} is ${hostState}, last report ${report.at}; ${detail}` : detail, changed: false,
      });
    }
  }
  return items;
}
