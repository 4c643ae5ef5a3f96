// Which cluster address each member gets: a pure function of the manifest and the role counts, so a member
// recreated or a role scaled never moves anyone else, and every host computes the same answer.
import { VeError } from '../core/ve-error.js';
import { formatIpv4, parseIpv4 } from './validate-cluster-subnet.js';
import type { ClusterManifest } from './parse-cluster-manifest.js';

/** host part of the first member's address (.10): the low addresses stay free for gateways and services */
export const FIRST_MEMBER_HOST = 10;
/** the most members one scalable role may grow to (and one cluster may have) */
export const MAX_ROLE_MEMBERS = 64;

/** role -> how many members it has now */
export type RoleCounts = Readonly<Record<string, number>>;

// The manifest's own counts: what `ve cluster up` starts with.
export function countRoles(manifest: Pick<ClusterManifest, 'roles'>): RoleCounts {
  return Object.fromEntries(manifest.roles.map((r) => [r.role, r.count]));
}

export interface RoleBlock {
  readonly role: string;
  /** host part of the role's first member */
  readonly first: number;
  /** how many members the role may have */
  readonly size: number;
}

/**
 * Fixed roles (not scalable) first, in manifest order, one address each member from .10; the scalable roles
 * then share what is left of the subnet in equal blocks (at most MAX_ROLE_MEMBERS each). For the shipped
 * batch cluster: head .10, c1 .11, c2 .12 ...
 */
export function planRoleBlocks(manifest: Pick<ClusterManifest, 'roles' | 'subnet'>): RoleBlock[] {
  const length = Number(manifest.subnet.split('/')[1]);
  const lastHost = 2 ** (32 - length) - 2;
  const blocks: RoleBlock[] = [];
  let next = FIRST_MEMBER_HOST;
  for (const r of manifest.roles.filter((x) => !x.scalable)) {
    blocks.push({ role: r.role, first: next, size: r.count });
    next += r.count;
  }
  const scalable = manifest.roles.filter((x) => x.scalable);
  const share = scalable.length === 0 ? 0 : Math.min(MAX_ROLE_MEMBERS, Math.floor((lastHost - next + 1) / scalable.length));
  for (const [i, r] of scalable.entries()) blocks.push({ role: r.role, first: next + i * share, size: share });
  return blocks;
}

/** one member's cluster address, e.g. { address: '10.99.0.11', prefix: 24 } */
export interface MemberAddress {
  readonly role: string;
  readonly index: number;
  readonly address: string;
  readonly prefix: number;
}

// Every member of the counts, with its address; refuses counts the subnet (or the role's block) has no room for.
export function planClusterAddresses(manifest: Pick<ClusterManifest, 'roles' | 'subnet'>, counts: RoleCounts): MemberAddress[] {
  const [network = '0.0.0.0', lengthText] = manifest.subnet.split('/');
  const prefix = Number(lengthText);
  const lastHost = 2 ** (32 - prefix) - 2;
  const base = parseIpv4(network);
  const out: MemberAddress[] = [];
  for (const block of planRoleBlocks(manifest)) {
    const role = manifest.roles.find((r) => r.role === block.role);
    const count = counts[block.role] ?? 0;
    if (role === undefined) continue;
    if (count > block.size || block.first + Math.max(count, 1) - 1 > lastHost) {
      throw new VeError('cluster-no-room', 'prereq', `subnet: ${manifest.subnet} has room for ${Math.max(0, Math.min(block.size, lastHost - block.first + 1))} members of role "${block.role}" (asked: ${count})`, { field: 'subnet' });
    }
    const numbered = role.count !== 1 || role.scalable;
    for (let i = 1; i <= count; i++) out.push({ role: block.role, index: numbered ? i : 0, address: formatIpv4(base + block.first + i - 1), prefix });
  }
  return out;
}
