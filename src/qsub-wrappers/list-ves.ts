import { findJobSpec } from '../batch/find-job-spec.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Inventory, VeRecord } from '../inventory/inventory.js';
import type { VeState } from '../core/ve-state.js';
import { VE_TYPES, type VeType } from '../core/ve-type.js';
import type { VeNic } from '../core/ve-nic.js';

/** One line of `ve list`: an LDAP entry, or a queued job that has no VE yet. */
export interface VeRow {
  readonly name: string;
  readonly state: VeState;
  readonly host: string;
  readonly jobId: string;
  readonly type: VeType;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly owner: string;
  readonly image: string;
  readonly lastChange: string;
  /** how many nodes (parts) the VE spans; vcpus and memory are per node */
  readonly nodes: number;
  /** NICs in order (network, MAC, IP once known); absent for pending VEs and older entries */
  readonly nics?: readonly VeNic[];
  /** the virtual cluster the VE is a member of, from its job's spec while the job lives */
  readonly cluster?: { readonly name: string; readonly role: string };
}

export interface ListVesDeps {
  readonly inventory: Inventory;
  readonly batch: Batch;
  readonly veQueue: string;
}

function toRow(ve: VeRecord): VeRow {
  return { name: ve.name, state: ve.state, host: ve.host, jobId: ve.jobId, type: ve.type, vcpus: ve.vcpus, memoryMiB: ve.memoryMiB, owner: ve.owner, image: ve.image, lastChange: ve.lastChange, nodes: ve.nodes ?? 1, ...(ve.nics === undefined ? {} : { nics: ve.nics }) };
}

// A queued job is a VE-to-be: users see it as pending before any host has touched it. Its comment and
// variables are the owner's to edit: they may name it, never size it. Type and sizes come from what the
// batch system holds as the job's request (node feature, cpus, memory per node); a job without an lxc or
// kvm feature is no VE job.
export function toPendingRow(job: BatchJob): VeRow | undefined {
  const spec = findJobSpec(job);
  if (spec === undefined || (job.state !== 'queued' && job.state !== 'held' && job.state !== 'running')) return undefined;
  const type = VE_TYPES.find((t) => job.resources.features.includes(t));
  if (type === undefined) return undefined;
  const nodes = Math.max(1, job.resources.nodeCount);
  return {
    name: spec.name, state: 'pending', host: '', jobId: job.jobId, type, vcpus: Math.max(1, Math.floor(job.resources.cpus / nodes)),
    memoryMiB: job.resources.memoryMiB ?? 0,
    owner: job.owner, image: spec.image, lastChange: job.submitTime === undefined ? '' : new Date(job.submitTime * 1000).toISOString(), nodes,
  };
}

/** `ve list`: LDAP is the record, the batch system adds what LDAP cannot know yet. */
export async function listVes(deps: ListVesDeps, options: { readonly all: boolean; readonly owner: string | undefined }): Promise<VeRow[]> {
  const query = { includeFinal: options.all, ...(options.owner === undefined ? {} : { owner: options.owner }) };
  const [ves, jobs] = await Promise.all([deps.inventory.listVes(query), deps.batch.listJobs({ queue: deps.veQueue, ...(options.owner === undefined ? {} : { owner: options.owner }) })]);
  const rows = ves.map(toRow);
  const known = new Set(rows.map((r) => r.jobId));
  // with --all, LDAP already returned final entries; jobs it has never heard of are still pending
  const everKnown = options.all ? known : new Set((await deps.inventory.listVes({ ...query, includeFinal: true })).map((v) => v.jobId));
  for (const job of jobs) {
    if (everKnown.has(job.jobId)) continue;
    const row = toPendingRow(job);
    if (row !== undefined) rows.push(row);
  }
  // cluster membership is the owner's own statement in their job's spec: it only groups their own VEs
  const clusters = new Map(jobs.flatMap((j) => { const c = findJobSpec(j)?.cluster; return c === undefined ? [] : [[j.jobId, c] as const]; }));
  return rows.map((r) => { const c = clusters.get(r.jobId); return c === undefined ? r : { ...r, cluster: c }; }).sort((a, b) => a.name.localeCompare(b.name) || a.jobId.localeCompare(b.jobId, undefined, { numeric: true }));
}

// Columns as a PBS administrator expects from qstat: fixed order, human units, one VE per line; the
// members of a virtual cluster follow a "cluster NAME (owner)" line, indented, after the other VEs.
export function formatVeTable(rows: readonly VeRow[]): string {
  // NODES last, so scripts that cut the older columns keep working; CPUS and MEMORY are per node
  const header = ['NAME', 'STATE', 'HOST', 'JOB', 'TYPE', 'CPUS', 'MEMORY', 'OWNER', 'IMAGE', 'NODES'];
  const groupOf = (r: VeRow): string => (r.cluster === undefined ? '' : `${r.owner}\u0000${r.cluster.name}`);
  const ordered = [...rows.filter((r) => r.cluster === undefined), ...rows.filter((r) => r.cluster !== undefined).sort((a, b) => groupOf(a).localeCompare(groupOf(b)))];
  const body = ordered.map((r) => [`${r.cluster === undefined ? '' : '  '}${r.name}`, r.state, r.host || '-', r.jobId, r.type, String(r.vcpus), `${r.memoryMiB} MiB`, r.owner, r.image, String(r.nodes)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cols: readonly string[]): string => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const lines = [line(header)];
  for (const [i, r] of ordered.entries()) {
    if (r.cluster !== undefined && (i === 0 || groupOf(ordered[i - 1] ?? r) !== groupOf(r))) lines.push(`cluster ${r.cluster.name} (${r.owner}):`);
    lines.push(line(body[i] ?? []));
  }
  return lines.join('\n');
}
