// Each member of a cluster as `ve create` would be asked for it: name, role, cluster address, and the raw
// spec (two NICs: nic0 on the host's default network by DHCP, nic1 on the cluster network, static).
import { DEFAULT_NETWORK, type RawVeSpec } from '../core/validate-ve-spec.js';
import { listClusterMembers } from './parse-cluster-manifest.js';
import { planClusterAddresses, planRoleBlocks, type RoleCounts } from './plan-cluster-addresses.js';
import type { ClusterIntent } from './cluster-intent.js';

export interface ClusterMemberPlan {
  readonly name: string;
  readonly role: string;
  /** 1-based within a numbered role; 0 for a single, unscalable member */
  readonly index: number;
  /** the member's address on the cluster network (nic1), without prefix length */
  readonly address: string;
  readonly raw: RawVeSpec;
}

/** the shortest lease a member is (re)created with, when the cluster's lease is almost over */
export const MIN_MEMBER_LEASE_SECONDS = 60;

// What is left of the cluster's lease at `now`: members created later end with the cluster, not after it.
export function findLeaseLeftSeconds(intent: Pick<ClusterIntent, 'createdAt' | 'manifest'>, now: Date): number {
  return Math.ceil((Date.parse(intent.createdAt) + intent.manifest.leaseSeconds * 1000 - now.getTime()) / 1000);
}

// Every name a member of this cluster can ever have, with its address: the members of today and those a
// scale may add (each scalable role's whole address block), as slurm.conf names nodes that are not up yet.
// So a member's /etc/hosts, seeded once at its creation, still names the members added after it.
export function listClusterHosts(m: ClusterIntent['manifest']): { name: string; address: string }[] {
  const full: Record<string, number> = Object.fromEntries(m.roles.map((r) => [r.role, r.count]));
  for (const b of planRoleBlocks(m)) if (m.roles.find((r) => r.role === b.role)?.scalable === true) full[b.role] = b.size;
  const names = listClusterMembers({ name: m.name, roles: m.roles.map((r) => ({ ...r, count: full[r.role] ?? r.count })) });
  const addresses = planClusterAddresses(m, full);
  return names.flatMap((n) => {
    const a = addresses.find((x) => x.role === n.role && x.index === n.index);
    return a === undefined ? [] : [{ name: n.name, address: a.address }];
  });
}

// Every member of the intent's counts, named and addressed the same way by every caller, every time.
export function planClusterMembers(intent: Pick<ClusterIntent, 'createdAt' | 'manifest'> & { readonly counts: RoleCounts }, now: Date): ClusterMemberPlan[] {
  const m = intent.manifest;
  const roles = m.roles.map((r) => ({ ...r, count: intent.counts[r.role] ?? r.count }));
  // only scalable roles change their count, and those are always numbered: names never shift
  const names = listClusterMembers({ name: m.name, roles });
  const addresses = planClusterAddresses(m, intent.counts);
  const lease = String(Math.max(MIN_MEMBER_LEASE_SECONDS, findLeaseLeftSeconds(intent, now)));
  const placed = names.map((n) => {
    const a = addresses.find((x) => x.role === n.role && x.index === n.index);
    return { ...n, address: a?.address ?? '', prefix: a?.prefix ?? 24 };
  });
  const hosts = listClusterHosts(m);
  return placed.map((p) => {
    const r = roles.find((x) => x.role === p.role);
    const raw: RawVeSpec = {
      name: p.name, type: r?.type, image: r?.image, vcpus: r?.vcpus, memory: r?.memoryMiB, lease,
      networks: [DEFAULT_NETWORK, m.network], addresses: ['', `${p.address}/${p.prefix}`],
      hostname: p.name, hosts, cluster: { name: m.name, role: p.role },
      ...(m.sshKeys.length === 0 ? {} : { sshKeys: m.sshKeys }),
      ...(r?.run === undefined ? {} : { bootScript: r.run }),
    };
    return { name: p.name, role: p.role, index: p.index, address: p.address, raw };
  });
}
