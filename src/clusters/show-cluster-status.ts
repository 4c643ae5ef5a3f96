// `ve cluster status`: the members (host, state, cluster address, nic0's DHCP address) from the batch
// system and LDAP, the lease left from the intent job, and the cluster entry's history where LDAP has it.
import { VeError } from '../core/ve-error.js';
import { findClusterJobs } from './find-cluster-jobs.js';
import type { Batch } from '../batch/batch.js';
import type { Inventory, VeRecord } from '../inventory/inventory.js';
import type { ClusterHistoryRecord, ClusterInventory, ClusterRecord } from '../inventory/cluster-inventory.js';

export interface ClusterStatusDeps {
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly clusters: ClusterInventory;
  readonly veQueue: string;
}

export interface ClusterMemberStatus {
  readonly name: string;
  readonly role: string;
  /** '' when the member has no live job (gone: ve-monitor reconcile recreates it) */
  readonly jobId: string;
  /** the VE's state in LDAP, 'pending' while queued, 'gone' without a live job */
  readonly state: string;
  readonly host: string;
  /** nic1, on the cluster network */
  readonly clusterAddress: string;
  /** nic0's address from the host's DHCP leases, once known; '' otherwise */
  readonly address: string;
}

export interface ClusterStatus {
  readonly name: string;
  readonly owner: string;
  /** up while the intent job lives; otherwise what LDAP says (down) */
  readonly state: string;
  readonly intentJobId: string;
  /** seconds; undefined when not known */
  readonly leaseLeftSeconds: number | undefined;
  readonly members: readonly ClusterMemberStatus[];
  readonly history: readonly ClusterHistoryRecord[];
  /** why LDAP's cluster entry was not read, when it was not */
  readonly ldapProblem?: string;
}

const stripPrefix = (cidr: string | undefined): string => (cidr ?? '').split('/')[0] ?? '';

// LDAP may be down or the entry not written yet (reconcile runs from cron): the batch system still answers.
async function readEntry(deps: ClusterStatusDeps, owner: string, name: string): Promise<{ record: ClusterRecord | undefined; problem?: string }> {
  try {
    return { record: await deps.clusters.getCluster(owner, name) };
  } catch (err) {
    if (err instanceof VeError && err.kind === 'environment') return { record: undefined, problem: err.message };
    throw err;
  }
}

export async function showClusterStatus(deps: ClusterStatusDeps, name: string, owner: string, now: Date): Promise<ClusterStatus> {
  const [jobs, ves, entry] = await Promise.all([deps.batch.listJobs({ queue: deps.veQueue, owner }), deps.inventory.listVes({ owner }), readEntry(deps, owner, name)]);
  const found = findClusterJobs(jobs, owner, name);
  const intent = found.intents[0];
  if (intent === undefined && found.members.length === 0 && entry.record === undefined) {
    throw new VeError('cluster-not-found', 'prereq', `name: you have no cluster named "${name}"`, { field: 'name' });
  }
  const byJob = new Map<string, VeRecord>(ves.map((v) => [v.jobId, v]));
  const members: ClusterMemberStatus[] = found.members.map(({ job, spec }) => {
    const ve = byJob.get(job.jobId);
    return {
      name: spec.name, role: spec.cluster?.role ?? '', jobId: job.jobId,
      state: ve?.state ?? (job.state === 'running' ? 'starting' : 'pending'), host: ve?.host ?? job.execHosts[0] ?? '',
      clusterAddress: stripPrefix(spec.addresses?.[1]), address: ve?.nics?.[0]?.ip ?? '',
    };
  });
  // members the entry expects that have no live job: gone (reconcile resubmits them while the lease lasts)
  if (intent !== undefined) {
    for (const m of entry.record?.members ?? []) {
      if (!members.some((x) => x.name === m.name)) members.push({ name: m.name, role: m.role, jobId: '', state: 'gone', host: '', clusterAddress: m.address, address: '' });
    }
  }
  const created = intent?.createdAt ?? entry.record?.createdAt;
  const lease = intent?.leaseSeconds ?? entry.record?.leaseSeconds;
  const leaseLeftSeconds = intent === undefined || created === undefined || lease === undefined ? undefined : Math.max(0, Math.floor((Date.parse(created) + lease * 1000 - now.getTime()) / 1000));
  return {
    name, owner,
    state: intent !== undefined ? 'up' : entry.record?.state ?? 'down',
    intentJobId: intent?.jobId ?? '',
    leaseLeftSeconds,
    members: members.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })),
    history: entry.record?.history ?? [],
    ...(entry.problem === undefined ? {} : { ldapProblem: entry.problem }),
  };
}

// Columns as ve list's: one member per line, then the lease and the latest history.
export function formatClusterStatus(s: ClusterStatus): string {
  const left = s.leaseLeftSeconds === undefined ? '-' : `${Math.floor(s.leaseLeftSeconds / 3600)}h${String(Math.floor((s.leaseLeftSeconds % 3600) / 60)).padStart(2, '0')}m`;
  const header = ['MEMBER', 'ROLE', 'STATE', 'HOST', 'JOB', 'CLUSTER-ADDRESS', 'ADDRESS'];
  const body = s.members.map((m) => [m.name, m.role, m.state, m.host || '-', m.jobId || '-', m.clusterAddress || '-', m.address || '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const table = [header, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  return [
    `cluster ${s.name} (owner ${s.owner}): ${s.state}${s.intentJobId === '' ? '' : ` (intent job ${s.intentJobId})`}, lease left ${left}`,
    ...table,
    ...s.history.slice(-5).map((h) => `  ${h.at} ${h.state}: ${h.reason}`),
    ...(s.ldapProblem === undefined ? [] : [`  (LDAP not read: ${s.ldapProblem})`]),
  ].join('\n');
}
