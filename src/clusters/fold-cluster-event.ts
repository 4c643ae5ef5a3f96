// Cluster events folded into the cluster's record, as VE events are (src/core/fold-event.ts): ordered by
// seq, so a replay, a late delivery or two monitors applying the same intent change nothing twice.
import type { ClusterHistoryRecord, ClusterMemberRecord, ClusterRecord, ClusterState } from '../inventory/cluster-inventory.js';

/** the most history values one cluster entry keeps (oldest dropped first) */
export const MAX_CLUSTER_HISTORY = 200;

export interface ClusterEvent {
  readonly owner: string;
  readonly name: string;
  /** an intent's seq (epoch ms) or, for what the monitor itself observed, the stored seq + 1 */
  readonly seq: number;
  /** ISO 8601 */
  readonly at: string;
  readonly state: ClusterState;
  readonly reason: string;
  /** present when the event changes them (up, scale); absent: the stored ones stay */
  readonly createdAt?: string;
  readonly leaseSeconds?: number;
  readonly manifest?: string;
  readonly members?: readonly ClusterMemberRecord[];
}

// Pure: undefined when the event is not newer than what is stored (nothing to write).
export function foldClusterEvent(current: ClusterRecord | undefined, event: ClusterEvent): ClusterRecord | undefined {
  if (current !== undefined && current.seq >= event.seq) return undefined;
  const entry: ClusterHistoryRecord = { seq: event.seq, at: event.at, state: event.state, reason: event.reason.slice(0, 200) };
  const history = [...(current?.history ?? []).filter((h) => h.seq !== event.seq), entry].sort((a, b) => a.seq - b.seq).slice(-MAX_CLUSTER_HISTORY);
  return {
    owner: event.owner,
    name: event.name,
    state: event.state,
    seq: event.seq,
    createdAt: event.createdAt ?? current?.createdAt ?? event.at,
    leaseSeconds: event.leaseSeconds ?? current?.leaseSeconds ?? 0,
    manifest: event.manifest ?? current?.manifest ?? '{}',
    members: event.members ?? current?.members ?? [],
    history,
    lastChange: event.at,
  };
}

// What the monitor sees of the members (their current jobs) is no event: it replaces the list, seq unchanged.
export function updateClusterMembers(current: ClusterRecord, members: readonly ClusterMemberRecord[]): ClusterRecord | undefined {
  const same = current.members.length === members.length && current.members.every((m, i) => {
    const n = members[i];
    return n !== undefined && n.name === m.name && n.role === m.role && n.address === m.address && n.jobId === m.jobId;
  });
  return same ? undefined : { ...current, members };
}
