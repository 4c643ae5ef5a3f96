// The in-memory cluster entries of the unit tests, with the LDAP adapter's rules: create refuses an existing
// entry, updates are compare-and-swap on seq.
import type { ClusterInventory, ClusterRecord } from '../../src/inventory/cluster-inventory.js';

export interface FakeClusterInventory extends ClusterInventory {
  readonly entries: Map<string, ClusterRecord>;
}

export function createFakeClusterInventory(): FakeClusterInventory {
  const entries = new Map<string, ClusterRecord>();
  const key = (owner: string, name: string): string => `${name}.${owner}`;
  return {
    entries,
    getCluster: (owner, name) => Promise.resolve(entries.get(key(owner, name))),
    listClusters: (owner) => Promise.resolve([...entries.values()].filter((c) => owner === undefined || c.owner === owner)),
    putCluster: (record, expectedSeq) => {
      const stored = entries.get(key(record.owner, record.name));
      if (expectedSeq === undefined ? stored !== undefined : stored?.seq !== expectedSeq) return Promise.resolve(false);
      entries.set(key(record.owner, record.name), record);
      return Promise.resolve(true);
    },
    close: () => Promise.resolve(),
  };
}
