// `ve snapshot list` is a read: it comes from the VE's LDAP history (every snapshot taken is an event whose
// reason the host words in one way), never from a job on the VE's host.
import { findVe } from '../qsub-wrappers/show-ve.js';
import type { ListVesDeps } from '../qsub-wrappers/list-ves.js';
import type { HistoryRecord } from '../inventory/inventory.js';
import type { VeSnapshotInfo } from './ve-operation-result.js';

// run-ve-operation words it "snapshot: snapshot S taken (KIND, N ms)"; before the operation path: "snapshot S taken (...)"
const TAKEN = /^(?:snapshot: )?snapshot ([A-Za-z0-9][A-Za-z0-9_.-]{0,62}) taken \((qemu-internal|lxc-copy), ([0-9]{1,9}) ms\)/;

// Pure: the snapshots a VE's history records, oldest first; a name taken again (after a rollback) counts once, at its newest.
export function findSnapshotsInHistory(history: readonly HistoryRecord[]): VeSnapshotInfo[] {
  const byName = new Map<string, VeSnapshotInfo>();
  for (const h of [...history].sort((a, b) => a.seq - b.seq)) {
    if (h.source !== 'operation' && h.source !== 'recovery') continue;
    const m = TAKEN.exec(h.reason);
    if (m === null) continue;
    const [, name = '', kind, ms = '0'] = m;
    byName.delete(name);
    byName.set(name, { name, kind: kind === 'qemu-internal' ? 'qemu-internal' : 'lxc-copy', createdAt: h.at, ms: Number(ms) });
  }
  return [...byName.values()];
}

export async function listVeSnapshots(deps: ListVesDeps, nameOrJobId: string, owner: string | undefined): Promise<{ readonly name: string; readonly jobId: string; readonly snapshots: VeSnapshotInfo[] }> {
  const ve = await findVe(deps, nameOrJobId, owner);
  return { name: ve.name, jobId: ve.jobId, snapshots: findSnapshotsInHistory(await deps.inventory.listHistory(ve.jobId)) };
}
