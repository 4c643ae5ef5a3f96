import { createHash } from 'node:crypto';

/** One network interface of a VE as events, LDAP and `ve show` carry it. */
export interface VeNic {
  /** the network name the user asked for ("default" = the host's shared default network) */
  readonly network: string;
  /** lower-case aa:bb:cc:dd:ee:ff */
  readonly mac: string;
  /** IPv4 address from the network's DHCP leases, once the guest has one */
  readonly ip?: string;
}

export const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
export const IPV4_PATTERN = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

// Known before boot and the same on every start of the job (a requeued VE keeps its MAC and lease):
// 52 has the locally-administered bit set and the multicast bit clear; 4 bytes of hash follow. The parts
// of a multi-node VE may share a network: each part gets its own MACs (part 0 keeps the single-node ones).
export function buildVeMac(jobId: string, index: number, part = 0): string {
  const digest = createHash('sha256').update(part === 0 ? `pbs-ve nic\0${jobId}\0${index}` : `pbs-ve nic\0${jobId}\0p${part}\0${index}`).digest();
  const bytes = [0x52, 0x54, ...digest.subarray(0, 4)];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
