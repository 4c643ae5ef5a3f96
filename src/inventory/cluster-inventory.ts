// The ClusterInventory port: virtual clusters as LDAP records them (pbsveVirtualCluster entries under ou=ves).

export type ClusterState = 'up' | 'down';

/** one member as the cluster entry records it; jobId '' while none is known */
export interface ClusterMemberRecord {
  readonly name: string;
  readonly role: string;
  /** address on the cluster network (nic1) */
  readonly address: string;
  readonly jobId: string;
}

/** one change of the cluster (up, scaled, member recreated, down), kept on the entry */
export interface ClusterHistoryRecord {
  readonly seq: number;
  /** ISO 8601 */
  readonly at: string;
  readonly state: ClusterState;
  readonly reason: string;
}

export interface ClusterRecord {
  readonly owner: string;
  readonly name: string;
  readonly state: ClusterState;
  /** seq of the last cluster event folded in (compare-and-swap key) */
  readonly seq: number;
  /** ISO 8601: when the cluster came up; the lease counts from here */
  readonly createdAt: string;
  readonly leaseSeconds: number;
  /** the manifest as validated, JSON */
  readonly manifest: string;
  readonly members: readonly ClusterMemberRecord[];
  /** oldest first */
  readonly history: readonly ClusterHistoryRecord[];
  /** ISO 8601 */
  readonly lastChange: string;
}

export interface ClusterInventory {
  getCluster(owner: string, name: string): Promise<ClusterRecord | undefined>;
  /** every cluster entry (of one owner when given), down ones included */
  listClusters(owner?: string): Promise<ClusterRecord[]>;
  /** create (expectedSeq undefined: false when it exists) or compare-and-swap on seq (false when the stored seq is not expectedSeq) */
  putCluster(record: ClusterRecord, expectedSeq: number | undefined): Promise<boolean>;
  close(): Promise<void>;
}
