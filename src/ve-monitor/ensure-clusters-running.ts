// ve-monitor reconcile's cluster pass (vemon node, root, the only LDAP writer): each live intent job is
// folded into its cluster's entry; a member that is gone while the lease lasts is submitted again, as its
// owner (the batch port's submitAs), through ve create's own checks; a cluster whose intent job is gone
// (ve cluster down, or its lease ended) is recorded down.
import { readJobIntent, findIntentJobs, type IntentJobSummary } from '../clusters/cluster-intent-job.js';
import { findClusterJobs } from '../clusters/find-cluster-jobs.js';
import { findLeaseLeftSeconds, planClusterMembers } from '../clusters/plan-cluster-members.js';
import { submitClusterMembers } from '../clusters/bring-cluster-up.js';
import { foldClusterEvent, updateClusterMembers, type ClusterEvent } from '../clusters/fold-cluster-event.js';
import type { ClusterIntent } from '../clusters/cluster-intent.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';
import type { ClusterInventory, ClusterMemberRecord, ClusterRecord } from '../inventory/cluster-inventory.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { Clock } from '../core/clock.js';

export interface EnsureClustersDeps {
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly clusters: ClusterInventory;
  readonly config: PbsVeConfig;
  readonly configDir: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** one line of the pass's report */
export interface ClusterFinding {
  readonly owner: string;
  readonly cluster: string;
  readonly action: 'recorded' | 'recreated' | 'recreate-failed' | 'down' | 'lease-ended' | 'unreadable';
  readonly detail: string;
}

// Compare-and-swap with a few retries: another monitor may fold the same cluster at the same time.
async function foldInto(deps: EnsureClustersDeps, owner: string, name: string, build: (current: ClusterRecord | undefined) => ClusterEvent | undefined): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await deps.clusters.getCluster(owner, name);
    const event = build(current);
    const next = event === undefined ? undefined : foldClusterEvent(current, event);
    if (next === undefined) return false;
    if (await deps.clusters.putCluster(next, current?.seq)) return true;
  }
  return false;
}

// The members as the entry shows them: every planned member with the job that is it now ('' if none).
function listMemberRecords(intent: ClusterIntent, live: readonly { job: BatchJob; spec: { name: string } }[], now: Date): ClusterMemberRecord[] {
  return planClusterMembers(intent, now).map((p) => ({ name: p.name, role: p.role, address: p.address, jobId: live.find((m) => m.spec.name === p.name)?.job.jobId ?? '' }));
}

// The manifest as the entry keeps it: the validated fields, the SSH keys left out (they are in the intent).
function describeManifest(intent: ClusterIntent): string {
  const m = intent.manifest;
  return JSON.stringify({ name: m.name, lease: m.leaseSeconds, network: m.network, subnet: m.subnet, roles: m.roles, counts: intent.counts });
}

async function ensureOne(deps: EnsureClustersDeps, summary: IntentJobSummary, jobs: readonly BatchJob[], dryRun: boolean): Promise<ClusterFinding[]> {
  const { owner, cluster } = summary;
  const now = deps.clock.now();
  const intent = await readJobIntent(summary, deps.batch);
  if (intent === undefined) return [{ owner, cluster, action: 'unreadable', detail: `intent job ${summary.jobId} holds no valid intent: nothing done` }];
  const findings: ClusterFinding[] = [];
  if (findLeaseLeftSeconds(intent, now) <= 0) {
    if (!dryRun) await deps.batch.cancel(summary.jobId);
    return [{ owner, cluster, action: 'lease-ended', detail: `lease of ${intent.manifest.leaseSeconds} s from ${intent.createdAt} is over: intent job ${summary.jobId} cancelled, members end with their own leases` }];
  }
  const live = findClusterJobs(jobs, owner, cluster).members;
  const event: ClusterEvent = {
    owner, name: cluster, seq: intent.seq, at: new Date(intent.seq).toISOString(), state: 'up', createdAt: intent.createdAt, leaseSeconds: intent.manifest.leaseSeconds,
    reason: intent.createdAt === new Date(intent.seq).toISOString() ? `up: ${Object.entries(intent.counts).map(([r, n]) => `${r} ${n}`).join(', ')} (intent job ${summary.jobId})` : `scaled: ${Object.entries(intent.counts).map(([r, n]) => `${r} ${n}`).join(', ')} (intent job ${summary.jobId})`,
    manifest: describeManifest(intent), members: listMemberRecords(intent, live, now),
  };
  if (!dryRun && await foldInto(deps, owner, cluster, () => event)) findings.push({ owner, cluster, action: 'recorded', detail: event.reason });
  const missing = planClusterMembers(intent, now).filter((p) => !live.some((m) => m.spec.name === p.name)).map((p) => p.name);
  let recreated: { name: string; jobId: string }[] = [];
  if (missing.length > 0) {
    const detail = `${missing.join(', ')}: no live job (ended without ve cluster down or scale)`;
    if (dryRun) return [...findings, { owner, cluster, action: 'recreated', detail: `would resubmit ${detail}` }];
    try {
      // as the owner: the job is theirs, counted in their limits, and ve create's checks run for them; in '/'
      // with no output file, since root's working directory is no place of the owner's (Slurm fails the launch)
      const asOwner: Batch = { ...deps.batch, submit: (request) => deps.batch.submit({ ...request, submitAs: owner, workdir: '/', outputPath: '/dev/null' }) };
      const done = await submitClusterMembers(intent, { batch: asOwner, inventory: deps.inventory, config: deps.config, configDir: deps.configDir, owner, warn: deps.log }, now, { only: new Set(missing), withIntent: false });
      recreated = done.members.map((m) => ({ name: m.name, jobId: m.jobId }));
      const reason = `recreated ${recreated.map((m) => `${m.name} (job ${m.jobId})`).join(', ')}: its job had ended without ve cluster down or scale`;
      await foldInto(deps, owner, cluster, (current) => (current === undefined ? undefined : { owner, name: cluster, seq: current.seq + 1, at: now.toISOString(), state: 'up', reason }));
      findings.push({ owner, cluster, action: 'recreated', detail: reason });
    } catch (err) {
      findings.push({ owner, cluster, action: 'recreate-failed', detail: `${detail}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  // the jobs that are the members now (recreated ones included): no event, the seq stays
  const all = [...live, ...recreated.map((r) => ({ job: { jobId: r.jobId } as BatchJob, spec: { name: r.name } }))];
  const members = listMemberRecords(intent, all, now);
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await deps.clusters.getCluster(owner, cluster);
    const next = current === undefined ? undefined : updateClusterMembers(current, members);
    if (next === undefined || await deps.clusters.putCluster(next, current?.seq)) break;
  }
  return findings;
}

/** One pass over every cluster; `jobs` is the VE queue's listing (all owners) reconcile read already. */
export async function ensureClustersRunning(deps: EnsureClustersDeps, jobs: readonly BatchJob[], options: { readonly dryRun: boolean }): Promise<ClusterFinding[]> {
  const newest = new Map<string, IntentJobSummary>();
  for (const s of findIntentJobs(jobs)) {
    const key = `${s.owner}/${s.cluster}`;
    const seen = newest.get(key);
    if (seen === undefined || (s.seq ?? 0) > (seen.seq ?? 0)) newest.set(key, s);
  }
  const findings: ClusterFinding[] = [];
  for (const summary of newest.values()) {
    try {
      findings.push(...await ensureOne(deps, summary, jobs, options.dryRun));
    } catch (err) {
      findings.push({ owner: summary.owner, cluster: summary.cluster, action: 'unreadable', detail: err instanceof Error ? err.message : String(err) });
    }
  }
  // an entry up without a live intent job: its owner took it down, or its lease ended
  for (const record of await deps.clusters.listClusters()) {
    if (record.state !== 'up' || newest.has(`${record.owner}/${record.name}`)) continue;
    const now = deps.clock.now();
    const reason = 'down: its intent job is gone (ve cluster down, or the lease ended)';
    if (!options.dryRun) await foldInto(deps, record.owner, record.name, (current) => (current === undefined || current.state !== 'up' ? undefined : { owner: record.owner, name: record.name, seq: current.seq + 1, at: now.toISOString(), state: 'down', reason, members: current.members.map((m) => ({ ...m, jobId: '' })) }));
    findings.push({ owner: record.owner, cluster: record.name, action: 'down', detail: reason });
  }
  return findings;
}
