import type { VeNic } from '../core/ve-nic.js';
import type { DhcpLease } from '../host/ve-networks.js';

/**
 * Pure: the VE's NICs with the IPs the DHCP leases of its networks now show (matched by MAC; a NIC
 * without a lease keeps its last known IP), or undefined when nothing changed.
 */
export function findNicAddresses(nics: readonly VeNic[], libvirtNames: readonly string[], leases: ReadonlyMap<string, readonly DhcpLease[]>): VeNic[] | undefined {
  let changed = false;
  const updated = nics.map((nic, i) => {
    const name = libvirtNames[i];
    const lease = name === undefined ? undefined : leases.get(name)?.find((l) => l.mac === nic.mac);
    if (lease === undefined || lease.ip === nic.ip) return nic;
    changed = true;
    return { ...nic, ip: lease.ip };
  });
  return changed ? updated : undefined;
}

// What `ve show` history says about a new address: "addresses: nic0 10.213.7.23 (default)".
export function describeNicAddresses(nics: readonly VeNic[]): string {
  return `addresses: ${nics.map((n, i) => `nic${i} ${n.ip ?? '-'} (${n.network})`).join(', ')}`;
}
