// `ve host list` / `ve host show`: the batch system's view of each host (state, features, size, note)
// merged with what the inventory knows (VEs placed there, the host's own reports).
import { VeError } from '../core/ve-error.js';
import { isFinalState } from '../core/ve-state.js';
import type { Batch, BatchNode, NodeState } from '../batch/batch.js';
import type { Inventory, VeRecord } from '../inventory/inventory.js';
import type { HostInventory, HostRecord } from '../inventory/host-inventory.js';

export interface HostVe {
  readonly name: string;
  readonly jobId: string;
  readonly owner: string;
  readonly state: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
}

export interface HostRow {
  readonly name: string;
  /** the batch system's word: free, busy, offline (drained), down, unknown; 'absent' when only LDAP knows it */
  readonly state: NodeState | 'absent';
  readonly rawState: string;
  readonly features: readonly string[];
  readonly cpus: number;
  readonly memoryMiB: number | undefined;
  /** summed over the VEs (parts) placed on this host, per-node sizes as the inventory records them */
  readonly veCpus: number;
  readonly veMemoryMiB: number;
  /** every VE on the host counts; names are listed for the caller's own VEs (admins: all) */
  readonly veCount: number;
  readonly ves: readonly HostVe[];
  /** the batch system's note: a drain reason, a health problem */
  readonly note: string | undefined;
  /** the host's entry in LDAP, once it reported (ve-host-report) */
  readonly inventory: { readonly lastHeartbeat: string; readonly state: string; readonly note: string } | undefined;
}

export interface ListHostsDeps {
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly hosts: HostInventory;
  readonly veQueue: string;
  /** the batch system's vemon hosts run no VEs: shown only when they carry a VE feature */
  readonly veFeatures: readonly string[];
}

// A multi-node VE holds a part on each of its hosts; its record names part 0's host only.
async function placeVes(ves: readonly VeRecord[], inventory: Inventory): Promise<Map<string, VeRecord[]>> {
  const byHost = new Map<string, VeRecord[]>();
  const add = (host: string, ve: VeRecord): void => { if (host !== '') byHost.set(host, [...(byHost.get(host) ?? []), ve]); };
  for (const ve of ves) {
    if ((ve.nodes ?? 1) > 1) {
      const parts = await inventory.listParts(ve.jobId);
      for (const p of parts) if (!isFinalState(p.state)) add(p.host, ve);
      if (parts.length > 0) continue;
    }
    add(ve.host, ve);
  }
  return byHost;
}

function toRow(name: string, node: BatchNode | undefined, record: HostRecord | undefined, ves: readonly VeRecord[], viewer: string | undefined): HostRow {
  const live = ves.filter((v) => v.state !== 'pending');
  return {
    name,
    state: node?.state ?? 'absent',
    rawState: node?.rawState ?? '-',
    features: node?.features ?? record?.hypervisorTypes ?? [],
    cpus: node?.cpus ?? record?.cpus ?? 0,
    memoryMiB: node?.memoryMiB ?? (record === undefined || record.memoryMiB === 0 ? undefined : record.memoryMiB),
    veCpus: live.reduce((sum, v) => sum + v.vcpus, 0),
    veMemoryMiB: live.reduce((sum, v) => sum + v.memoryMiB, 0),
    veCount: live.length,
    ves: live.filter((v) => viewer === undefined || v.owner === viewer).map((v) => ({ name: v.name, jobId: v.jobId, owner: v.owner, state: v.state, vcpus: v.vcpus, memoryMiB: v.memoryMiB })),
    note: node?.note,
    inventory: record === undefined ? undefined : { lastHeartbeat: record.lastHeartbeat, state: record.state, note: record.note },
  };
}

/** Every VE host: the batch system's nodes with a VE feature, plus hosts only LDAP still knows. viewer: whose VE names to show (undefined: all). */
export async function listHosts(deps: ListHostsDeps, viewer: string | undefined): Promise<HostRow[]> {
  const [nodes, records, ves] = await Promise.all([deps.batch.listNodes(), deps.hosts.listHosts(), deps.inventory.listVes({})]);
  const veNodes = nodes.filter((n) => n.features.some((f) => deps.veFeatures.includes(f)));
  const byHost = await placeVes(ves.filter((v) => !isFinalState(v.state)), deps.inventory);
  const names = [...new Set([...veNodes.map((n) => n.name), ...records.map((r) => r.name)])].sort();
  return names.map((name) => toRow(name, veNodes.find((n) => n.name === name), records.find((r) => r.name === name), byHost.get(name) ?? [], viewer));
}

/** One host, or a clear error naming the hosts there are. */
export async function showHost(deps: ListHostsDeps, name: string, viewer: string | undefined): Promise<HostRow> {
  const rows = await listHosts(deps, viewer);
  const row = rows.find((r) => r.name === name);
  if (row === undefined) throw new VeError('host-not-found', 'prereq', `host: no VE host "${name}" (hosts: ${rows.map((r) => r.name).join(', ') || 'none'})`, { field: 'host' });
  return row;
}

// Columns like `pbsnodes`/`sinfo -N`, with the VE load beside the host's size.
export function formatHostTable(rows: readonly HostRow[]): string {
  const header = ['HOST', 'STATE', 'FEATURES', 'CPUS', 'MEMORY', 'VE_CPUS', 'VE_MEMORY', 'VES', 'NOTE'];
  const body = rows.map((r) => [r.name, r.state, r.features.join(',') || '-', String(r.cpus), r.memoryMiB === undefined ? '-' : `${r.memoryMiB} MiB`,
    String(r.veCpus), `${r.veMemoryMiB} MiB`, String(r.veCount), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  return [header, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function formatHostDetails(r: HostRow): string {
  const lines = [
    `host:        ${r.name}`, `state:       ${r.state} (${r.rawState})`, `features:    ${r.features.join(',') || '-'}`,
    `cpus:        ${r.veCpus} of ${r.cpus} used by VEs`, `memory:      ${r.veMemoryMiB} of ${r.memoryMiB === undefined ? '?' : r.memoryMiB} MiB used by VEs`,
    `note:        ${r.note ?? '-'}`,
    `inventory:   ${r.inventory === undefined ? 'no host entry yet (written by the host\'s ve-host-report)' : `${r.inventory.state}, last report ${r.inventory.lastHeartbeat || '-'}${r.inventory.note === '' ? '' : `, note: ${r.inventory.note}`}`}`,
    `VEs:         ${r.veCount}${r.ves.length < r.veCount ? ` (${r.veCount - r.ves.length} of other users)` : ''}`,
  ];
  for (const v of r.ves) lines.push(`  ${v.name.padEnd(16)} ${v.state.padEnd(9)} job ${v.jobId}  ${v.owner}  ${v.vcpus} cpus  ${v.memoryMiB} MiB`);
  return lines.join('\n');
}
