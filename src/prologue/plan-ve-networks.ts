// Pure: which libvirt networks a VE needs on this host and which NICs it gets on them.
import { createHash } from 'node:crypto';
import { invalidField } from '../core/ve-error.js';
import { DEFAULT_MAX_NICS, DEFAULT_NETWORK } from '../core/validate-ve-spec.js';
import { buildVeMac, type VeNic } from '../core/ve-nic.js';
import { VeError } from '../core/ve-error.js';
import { findHostNetwork, parseCidr, type NetworkConfig, type OverlayConfig } from '../config/network-config.js';
import type { DomainInterface } from '../virt/domain-spec.js';
import type { VeSpec } from '../core/ve-spec.js';

export type NetworkKind = 'default' | 'declared' | 'private';

/** One libvirt network on one host, as pbs-ve defines it (transient: it goes with its last VE or libvirtd). */
export interface HostNetworkPlan {
  /** the name users know: default, a declared name, or the owner's private name */
  readonly name: string;
  readonly kind: NetworkKind;
  /** pbsve-<name> (default and declared) or pbsve-<name>.<owner> (private: never shared between owners) */
  readonly libvirtName: string;
  readonly bridge: string;
  /** false: an existing bridge the admin made; libvirt only attaches to it */
  readonly managed: boolean;
  /** fixed IPv4 subnet for DHCP; absent on a managed network = one from the pool */
  readonly subnet?: string;
  /** tagged VLAN interface enslaved to the bridge */
  readonly vlan?: { readonly trunk: string; readonly tag: number; readonly device: string };
  /** the pool a subnet is taken from when none is fixed */
  readonly subnetPool: string;
  /** a private network spanning the hosts: no DHCP, no host address; a VXLAN device on the bridge */
  readonly overlay?: OverlayPlan;
}

/** One VXLAN tunnel endpoint: everything `ip link add ... type vxlan` and the FDB need, decided before any side effect. */
export interface OverlayPlan {
  readonly vni: number;
  /** the VXLAN device on this host (<prefix>x<8 hex>) */
  readonly device: string;
  readonly port: number;
  /** this host's underlay address (the tunnels' local end) */
  readonly local: string;
  readonly underlayDevice?: string;
  /** the namespace the device is made in (its UDP socket stays there), then moved to the bridge's */
  readonly netns?: string;
  /** unicast: the other hosts' underlay addresses (head-end replication); empty with multicast */
  readonly peers: readonly string[];
  /** multicast: this VNI's group */
  readonly group?: string;
  readonly mtu: number;
}

export interface VeNetworkPlan {
  readonly networks: readonly HostNetworkPlan[];
  readonly interfaces: readonly DomainInterface[];
  readonly nics: readonly VeNic[];
}

export interface PlanVeNetworksInput {
  readonly spec: VeSpec;
  readonly jobId: string;
  /** multi-node VEs: the part this host realizes (its MACs differ from the other parts'); absent = 0 */
  readonly part?: number;
  readonly owner: string;
  /** the owner's groups, for networks declared with groups */
  readonly ownerGroups: readonly string[];
  readonly host: string;
  readonly config: NetworkConfig | undefined;
  /** true: the submit host checks names and access only; it has no underlay of its own */
  readonly submit?: boolean;
}

const EMPTY_CONFIG: NetworkConfig = { maxNics: DEFAULT_MAX_NICS, hosts: {}, networks: {}, subnetPool: '10.213.0.0/16' };

function shortHash(text: string, chars: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, chars);
}

// Linux names are at most 15 characters: prefix (<= 6) + "b" + 8 hex; the host is part of the hash
// because the sandbox's simulated hosts share one network namespace.
export function buildBridgeName(prefix: string, host: string, libvirtName: string): string {
  return `${prefix}b${shortHash(`bridge\0${host}\0${libvirtName}`, 8)}`;
}

// The host side of a NIC: known before start, unique per host, never one of libvirt's vnetN.
export function buildNicDeviceName(prefix: string, host: string, jobId: string, index: number): string {
  return `${prefix}n${shortHash(`nic\0${host}\0${jobId}\0${index}`, 8)}`;
}

// <trunk>.<tag> where it fits in 15 characters, else a hashed name.
export function buildVlanDeviceName(prefix: string, trunk: string, tag: number): string {
  const plain = `${trunk}.${tag}`;
  return plain.length <= 15 ? plain : `${prefix}v${shortHash(plain, 8)}`;
}

// The VXLAN device of one network on one host; like the bridge, hashed with the host (one namespace in the sandbox).
export function buildVxlanDeviceName(prefix: string, host: string, libvirtName: string): string {
  return `${prefix}x${shortHash(`vxlan\0${host}\0${libvirtName}`, 8)}`;
}

// The owner is the batch system's job owner, never user input, so no user can name another owner's VNI.
export function deriveVni(overlay: Pick<OverlayConfig, 'vniBase' | 'vniCount'>, owner: string, network: string): number {
  const h = Number.parseInt(shortHash(`vni\0${owner}\0${network}`, 12), 16);
  return overlay.vniBase + (h % overlay.vniCount);
}

// One group per VNI where the range allows, spread over the range otherwise (hosts then drop other VNIs' frames).
export function deriveMulticastGroup(overlay: Pick<OverlayConfig, 'vniBase' | 'group'>, vni: number): string | undefined {
  const range = overlay.group === undefined ? undefined : parseCidr(overlay.group);
  if (range === undefined) return undefined;
  const size = 2 ** (32 - range.length);
  return formatAddress(range.base + ((vni - overlay.vniBase) % size));
}

// Pure: the tunnel endpoint of one private network on this host, or a host fault when its underlay is missing.
function planOverlay(config: NetworkConfig, overlay: OverlayConfig, host: string, owner: string, name: string, libvirtName: string): OverlayPlan {
  const own = config.hosts[host];
  const underlay = own?.underlay;
  if (underlay === undefined) {
    throw new VeError('overlay-no-underlay', 'environment', `network ${name}: network.overlay is configured but network.hosts.${host}.underlay is not (this host cannot reach the others' tunnels)`);
  }
  const vni = deriveVni(overlay, owner, name);
  const group = overlay.mode === 'multicast' ? deriveMulticastGroup(overlay, vni) : undefined;
  const peers = overlay.mode === 'unicast'
    ? Object.entries(config.hosts).filter(([h, c]) => h !== host && c.underlay !== undefined).map(([, c]) => c.underlay?.address ?? '').sort()
    : [];
  return {
    vni, device: buildVxlanDeviceName(own?.prefix ?? 'pve', host, libvirtName), port: overlay.port, local: underlay.address,
    ...(underlay.device === undefined ? {} : { underlayDevice: underlay.device }),
    ...(underlay.netns === undefined ? {} : { netns: underlay.netns }),
    peers, ...(group === undefined ? {} : { group }), mtu: overlay.mtu,
  };
}

// Declared networks with users/groups admit only those; an empty list on both sides admits all.
function checkAccess(name: string, users: readonly string[], groups: readonly string[], owner: string, ownerGroups: readonly string[]): void {
  if (users.length === 0 && groups.length === 0) return;
  if (users.includes(owner) || groups.some((g) => ownerGroups.includes(g))) return;
  throw invalidField('network', `network "${name}" is declared by the administrator and ${owner} may not attach to it`, name);
}

// Decides, per requested name, which network it is; every check that can refuse happens here, before any side effect.
export function planVeNetworks(input: PlanVeNetworksInput): VeNetworkPlan {
  const config = input.config ?? EMPTY_CONFIG;
  const host = findHostNetwork(config, input.host);
  const names = input.spec.networks ?? [DEFAULT_NETWORK];
  if (names.length > config.maxNics) throw invalidField('network', `at most ${config.maxNics} networks (one NIC each) on this cluster`, names.length);
  const networks: HostNetworkPlan[] = names.map((name) => {
    if (name === DEFAULT_NETWORK) {
      const libvirtName = 'pbsve-default';
      if (host.defaultBridge !== undefined) return { name, kind: 'default', libvirtName, bridge: host.defaultBridge, managed: false, subnetPool: config.subnetPool };
      return {
        name, kind: 'default', libvirtName, bridge: buildBridgeName(host.prefix, input.host, libvirtName), managed: true, subnetPool: config.subnetPool,
        ...(host.defaultSubnet === undefined ? {} : { subnet: host.defaultSubnet }),
      };
    }
    const declared = config.networks[name];
    if (declared !== undefined) {
      checkAccess(name, declared.users, declared.groups, input.owner, input.ownerGroups);
      const libvirtName = `pbsve-${name}`;
      const vlan = declared.vlan !== undefined && host.trunk !== undefined
        ? { vlan: { trunk: host.trunk, tag: declared.vlan, device: buildVlanDeviceName(host.prefix, host.trunk, declared.vlan) } }
        : {};
      return {
        name, kind: 'declared', libvirtName, bridge: buildBridgeName(host.prefix, input.host, libvirtName), managed: true, subnetPool: config.subnetPool,
        ...(declared.subnet === undefined ? {} : { subnet: declared.subnet }), ...vlan,
      };
    }
    // "." cannot occur in a network name, so <name>.<owner> never equals another owner's network
    const libvirtName = `pbsve-${name}.${input.owner}`;
    const overlay = config.overlay === undefined || input.submit === true ? undefined : planOverlay(config, config.overlay, input.host, input.owner, name, libvirtName);
    return {
      name, kind: 'private', libvirtName, bridge: buildBridgeName(host.prefix, input.host, libvirtName), managed: true, subnetPool: config.subnetPool,
      ...(overlay === undefined ? {} : { overlay }),
    };
  });
  const addresses = input.spec.addresses ?? [];
  addresses.forEach((address, i) => {
    const kind = networks[i]?.kind;
    if (address !== '' && kind !== 'private') {
      throw invalidField('network', `a static address is only for your private networks (${networks[i]?.name ?? `nic${i}`} has DHCP)`, address);
    }
  });
  const interfaces = networks.map((n, i) => {
    const address = addresses[i] ?? '';
    return {
      network: n.libvirtName, mac: buildVeMac(input.jobId, i, input.part ?? 0), targetDev: buildNicDeviceName(host.prefix, input.host, input.jobId, i),
      ...(address === '' ? {} : { address }),
      ...(n.overlay === undefined ? {} : { mtu: n.overlay.mtu }),
    };
  });
  const nics = networks.map((n, i) => ({ network: n.name, mac: buildVeMac(input.jobId, i, input.part ?? 0) }));
  return { networks, interfaces, nics };
}

function formatAddress(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function overlaps(a: { base: number; length: number }, b: { base: number; length: number }): boolean {
  const aEnd = a.base + 2 ** (32 - a.length);
  const bEnd = b.base + 2 ** (32 - b.length);
  return a.base < bEnd && b.base < aEnd;
}

// An address as `ip -o addr` shows it (10.1.2.3/24) as the network it is in.
function parseInterfaceAddress(text: string): { base: number; length: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (m === null) return undefined;
  const parts = m.slice(1, 5).map(Number);
  const length = Number(m[5]);
  if (parts.some((x) => x > 255) || length > 32) return undefined;
  const address = parts.reduce((acc, x) => acc * 256 + x, 0);
  const size = 2 ** (32 - length);
  return { base: address - (address % size), length };
}

// A /24 of the pool that no address of this host is in, starting at a place the seed picks so
// networks of one host rarely probe the same candidates; undefined when the pool is full.
export function chooseSubnet(pool: string, seed: string, inUse: readonly string[]): string | undefined {
  const p = parseCidr(pool);
  if (p === undefined || p.length > 24) return undefined;
  const used = inUse.map(parseInterfaceAddress).filter((c): c is { base: number; length: number } => c !== undefined);
  const count = 2 ** (24 - p.length);
  const start = Number.parseInt(shortHash(seed, 8), 16) % count;
  for (let i = 0; i < count; i += 1) {
    const candidate = { base: p.base + ((start + i) % count) * 256, length: 24 };
    if (!used.some((u) => overlaps(u, candidate))) return `${formatAddress(candidate.base)}/24`;
  }
  return undefined;
}

/** gateway (the host's address on the bridge), netmask and DHCP range of a subnet */
export function describeSubnet(subnet: string): { gateway: string; netmask: string; first: string; last: string } | undefined {
  const c = parseCidr(subnet);
  if (c === undefined || c.length > 29) return undefined;
  const size = 2 ** (32 - c.length);
  return {
    gateway: formatAddress(c.base + 1),
    netmask: formatAddress(2 ** 32 - size),
    first: formatAddress(c.base + 2),
    last: formatAddress(c.base + size - 2),
  };
}
