import type { VeType } from './ve-type.js';

/** What a user asks for; validated by validateVeSpec, carried with the job by encodeVeSpec. */
export interface VeSpec {
  readonly version: 1;
  readonly name: string;
  readonly type: VeType;
  readonly image: string;
  /** per part: every node of a multi-node VE gets this many */
  readonly vcpus: number;
  /** per part (per node), not the job's total */
  readonly memoryMiB: number;
  readonly leaseSeconds: number;
  /** extra data disks (MiB each), attached as vdb, vdc, ...; absent = none (tokens of older versions) */
  readonly disks?: readonly number[];
  /** true: the epilogue keeps the data disks for the owner instead of deleting them */
  readonly keepDisks?: boolean;
  /** OpenSSH public key lines for the guest's default user (cloud-init images only); absent = none */
  readonly sshKeys?: readonly string[];
  /** how many nodes (parts) the VE spans, one domain each; absent = 1 (tokens of older versions) */
  readonly nodes?: number;
  /** one NIC per entry, in order (nic0, nic1, ...); absent = one NIC on the host's default network */
  readonly networks?: readonly string[];
  /** per NIC index (as networks): a static address "a.b.c.d/len", or '' for none (DHCP); absent = all DHCP */
  readonly addresses?: readonly string[];
  /** the guest's host name (an RFC 1123 label); absent = the VE name */
  readonly hostname?: string;
  /** /etc/hosts entries seeded into the guest, at most MAX_VE_HOSTS */
  readonly hosts?: readonly VeHostEntry[];
  /** the virtual cluster this VE is a member of, and its role there (issue 13: grouping, LDAP, status) */
  readonly cluster?: { readonly name: string; readonly role: string };
  /** a shell script the guest runs at every boot (LXC: /etc/pbs-ve/boot.sh; QEMU: cloud-init runcmd); absent = none */
  readonly bootScript?: string;
}

/** One /etc/hosts line of a guest: `address name`. */
export interface VeHostEntry {
  readonly name: string;
  readonly address: string;
}

// Absent means one node: specs written before multi-node VEs existed stay valid.
export function countVeNodes(spec: Pick<VeSpec, 'nodes'>): number {
  return spec.nodes ?? 1;
}
