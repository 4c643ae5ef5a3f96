import { VeError } from '../core/ve-error.js';
import { JOB_ID_PATTERN } from '../core/build-domain-name.js';
import { validateVeReference } from '../core/validate-ve-reference.js';
import { listVes, type ListVesDeps, type VeRow } from './list-ves.js';
import type { BatchJob } from '../batch/batch.js';
import type { HistoryRecord, VePartRecord } from '../inventory/inventory.js';

export interface VeDetails {
  readonly ve: VeRow;
  readonly history: readonly HistoryRecord[];
  readonly job: BatchJob | undefined;
  /** multi-node VEs: one per node, part order; empty for single-node VEs */
  readonly parts: readonly VePartRecord[];
}

// Names are per owner and reused after destroy: the newest live VE wins, else the newest of any state.
export async function findVe(deps: ListVesDeps, nameOrJobId: string, owner: string | undefined): Promise<VeRow> {
  validateVeReference(nameOrJobId);
  const rows = await listVes(deps, { all: true, owner });
  const matches = rows.filter((r) => r.name === nameOrJobId || (JOB_ID_PATTERN.test(nameOrJobId) && r.jobId === nameOrJobId));
  const byNewest = [...matches].sort((a, b) => b.jobId.localeCompare(a.jobId, undefined, { numeric: true }));
  const live = byNewest.find((r) => !['destroyed', 'lost', 'failed'].includes(r.state));
  const found = live ?? byNewest[0];
  if (found === undefined) {
    throw new VeError('ve-not-found', 'prereq', `name: no VE "${nameOrJobId}"${owner === undefined ? '' : ` owned by ${owner}`} (see ve list --all)`, { field: 'name' });
  }
  return found;
}

/** `ve show`: every attribute, the job as the batch system sees it, and the state history. */
export async function showVe(deps: ListVesDeps, nameOrJobId: string, owner: string | undefined): Promise<VeDetails> {
  const ve = await findVe(deps, nameOrJobId, owner);
  const [history, job, parts] = await Promise.all([
    deps.inventory.listHistory(ve.jobId), deps.batch.getJob(ve.jobId),
    ve.nodes > 1 ? deps.inventory.listParts(ve.jobId) : Promise.resolve([]),
  ]);
  return { ve, history, job, parts };
}

export function formatVeDetails(d: VeDetails): string {
  const v = d.ve;
  const lines = [
    `name:        ${v.name}`, `state:       ${v.state}`, `owner:       ${v.owner}`, `job:         ${v.jobId}${d.job === undefined ? ' (gone from the batch system)' : ` (${d.job.rawState} in ${d.job.queue})`}`,
    ...(v.state === 'pending' && d.job?.waitReason !== undefined ? [`waiting:     ${d.job.waitReason}`] : []),
    `host:        ${v.host || '-'}`, ...(v.nodes > 1 ? [`nodes:       ${v.nodes}`] : []), `type:        ${v.type}`, `image:       ${v.image}`, `vcpus:       ${v.vcpus}`, `memory:      ${v.memoryMiB} MiB`,
    `last change: ${v.lastChange || '-'}`,
  ];
  if (d.job?.resources.walltimeSeconds !== undefined) lines.push(`lease:       ${d.job.resources.walltimeSeconds} s`);
  (v.nics ?? []).forEach((n, i) => { lines.push(`${`nic${i}:`.padEnd(13)}${n.network.padEnd(12)} ${n.mac}  ${n.ip ?? '(no address yet)'}`); });
  if (v.nodes > 1) {
    lines.push(`parts (vcpus and memory each):`);
    for (let i = 0; i < v.nodes; i++) {
      const p = d.parts.find((x) => x.part === i);
      lines.push(p === undefined ? `  part ${i}  (not reported yet)` : `  part ${i}  ${p.state.padEnd(9)} ${p.host || '-'}  ${p.domain || '-'}  ${p.lastChange || '-'}`);
    }
  }
  lines.push('history:');
  for (const h of d.history) {
    const part = h.part === undefined ? '' : `part ${h.part} `;
    lines.push(`  ${h.at}  ${part}${(h.oldState ?? '-').padEnd(9)} -> ${h.state.padEnd(9)} ${h.host || '-'}  ${h.source}: ${h.reason}`);
  }
  if (d.history.length === 0) lines.push('  (none yet)');
  return lines.join('\n');
}
