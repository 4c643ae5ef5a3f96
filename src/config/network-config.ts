// The optional "network" section of config.json: per-host bridges and trunks, admin-declared networks.
import { VeError } from '../core/ve-error.js';
import { DEFAULT_MAX_NICS, DEFAULT_NETWORK, NETWORK_NAME_PATTERN } from '../core/validate-ve-spec.js';
import { findHostPart, parseIpv4Prefix } from '../core/parse-ipv4-prefix.js';

export interface HostNetworkConfig {
  /** 1-6 of [a-z0-9]: the start of every bridge and host-side NIC name pbs-ve makes (unique per network namespace) */
  readonly prefix: string;
  /** an existing bridge the admin made (e.g. br0 on the LAN): the default network uses it, unmanaged */
  readonly defaultBridge?: string;
  /** IPv4 /24../30 the default network serves by DHCP when pbs-ve makes its bridge; default: one from subnetPool */
  readonly defaultSubnet?: string;
  /** host interface carrying tagged VLANs; declared networks with a vlan get <trunk>.<vlan> on their bridge */
  readonly trunk?: string;
  /** where this host's VXLAN tunnels start (network.overlay): its underlay address, device, and (sandbox) namespace */
  readonly underlay?: UnderlayConfig;
}

export interface UnderlayConfig {
  /** the host's IPv4 address on the underlay: the VXLAN tunnels' local end, and the other hosts' unicast peer */
  readonly address: string;
  /** the underlay interface (multicast needs it; unicast routes by address) */
  readonly device?: string;
  /** the network namespace holding the underlay (the sandbox's simulated hosts); absent = the host's own */
  readonly netns?: string;
}

/** VXLAN overlay: makes every owner's private network one L2 segment across the hosts */
export interface OverlayConfig {
  readonly kind: 'vxlan';
  /** first VNI of the range pbs-ve derives VNIs in (1..16777215) */
  readonly vniBase: number;
  /** size of that range: VNI = vniBase + hash(owner, network) mod vniCount */
  readonly vniCount: number;
  /** UDP port of the tunnels (IANA: 4789) */
  readonly port: number;
  /** unicast: head-end replication to every other host with an underlay; multicast: one group per VNI */
  readonly mode: 'unicast' | 'multicast';
  /** multicast: the IPv4 range (in 224.0.0.0/4) groups are derived in */
  readonly group?: string;
  /** MTU of the overlay bridge and the guests' NICs: the underlay's MTU minus 50 (VXLAN over IPv4) */
  readonly mtu: number;
}

export interface DeclaredNetwork {
  /** 802.1Q tag on the hosts' trunks: the same network on every host; without it the network is host-local */
  readonly vlan?: number;
  /** IPv4 subnet served by DHCP on each host's bridge; default: one from subnetPool */
  readonly subnet?: string;
  /** who may attach; both empty = everybody */
  readonly users: readonly string[];
  readonly groups: readonly string[];
}

export interface NetworkConfig {
  /** most NICs one VE may have */
  readonly maxNics: number;
  /** per host name as the batch system names hosts; "default" for hosts not listed */
  readonly hosts: Readonly<Record<string, HostNetworkConfig>>;
  /** networks an admin declared by name; any other name is private to its owner and host-local */
  readonly networks: Readonly<Record<string, DeclaredNetwork>>;
  /** IPv4 /16 (or larger) from which networks without a configured subnet get a /24 */
  readonly subnetPool: string;
  /** absent: private networks are host-local; present: they span the hosts over VXLAN */
  readonly overlay?: OverlayConfig;
}

export const DEFAULT_SUBNET_POOL = '10.213.0.0/16';
const PREFIX_PATTERN = /^[a-z0-9]{1,6}$/;
/** Linux interface names: at most 15 characters, no "/" or whitespace; stricter here */
export const INTERFACE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

function bad(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-config', 'environment', `config ${field}: ${rule} (got ${JSON.stringify(got)})`, { field });
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object', v);
  return v as Record<string, unknown>;
}

/** a.b.c.d/len as [address as a 32-bit number, prefix length]; undefined when malformed or not a network address */
export function parseCidr(text: string): { readonly base: number; readonly length: number } | undefined {
  const prefix = parseIpv4Prefix(text);
  if (prefix === undefined || findHostPart(prefix) !== 0) return undefined;
  return { base: prefix.address, length: prefix.length };
}

// Subnets end up in libvirt's <ip>: a network address, and room for a gateway and a DHCP range.
function subnet(v: unknown, field: string, maxLength: number): string {
  const parsed = typeof v === 'string' ? parseCidr(v) : undefined;
  if (typeof v !== 'string' || parsed === undefined || parsed.length < 8 || parsed.length > maxLength) {
    bad(field, `must be an IPv4 network address a.b.c.d/len with len from 8 to ${maxLength} (host bits zero)`, v);
  }
  return v;
}

function names(v: unknown, field: string, pattern: RegExp): readonly string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string' && pattern.test(x))) bad(field, 'must be a list of user or group names', v);
  return v;
}

function interfaceName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !INTERFACE_NAME_PATTERN.test(v)) bad(field, 'must be a network interface name (1-15 of A-Z a-z 0-9 _ . -)', v);
  return v;
}

const NETNS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_VNI = 16_777_215;

function ipv4(v: unknown, field: string): string {
  const parsed = typeof v === 'string' ? parseCidr(`${v}/32`) : undefined;
  if (typeof v !== 'string' || parsed === undefined) bad(field, 'must be an IPv4 address a.b.c.d', v);
  return v;
}

function wholeNumber(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) bad(field, `must be a whole number from ${min} to ${max}`, v);
  return v;
}

function parseUnderlay(v: unknown, path: string): UnderlayConfig {
  const u = object(v, path);
  const netns = u['netns'];
  if (netns !== undefined && (typeof netns !== 'string' || !NETNS_PATTERN.test(netns))) bad(`${path}.netns`, 'must be a network namespace name (1-64 of A-Z a-z 0-9 _ . -)', netns);
  return {
    address: ipv4(u['address'], `${path}.address`),
    ...(u['device'] === undefined ? {} : { device: interfaceName(u['device'], `${path}.device`) }),
    ...(netns === undefined ? {} : { netns }),
  };
}

// Every number ends up in `ip link add ... type vxlan`: bounded here, and the range must fit in 24 bits.
function parseOverlay(v: unknown): OverlayConfig {
  const o = object(v, 'network.overlay');
  if (o['kind'] !== 'vxlan') bad('network.overlay.kind', 'must be "vxlan" (the only encapsulation pbs-ve makes)', o['kind']);
  const vniBase = wholeNumber(o['vniBase'], 'network.overlay.vniBase', 1, MAX_VNI);
  const vniCount = wholeNumber(o['vniCount'], 'network.overlay.vniCount', 1, MAX_VNI - vniBase + 1);
  const port = wholeNumber(o['port'] ?? 4789, 'network.overlay.port', 1, 65535);
  const mode = o['mode'] ?? 'unicast';
  if (mode !== 'unicast' && mode !== 'multicast') bad('network.overlay.mode', 'must be "unicast" (head-end replication to the configured hosts) or "multicast"', mode);
  const mtu = wholeNumber(o['mtu'] ?? 1450, 'network.overlay.mtu', 576, 9000);
  if (mode === 'unicast') {
    if (o['group'] !== undefined) bad('network.overlay.group', 'is for mode "multicast" only', o['group']);
    return { kind: 'vxlan', vniBase, vniCount, port, mode, mtu };
  }
  const group = o['group'];
  const parsed = typeof group === 'string' ? parseCidr(group) : undefined;
  // 224.0.0.0/4 is multicast; 224.0.0.0/24 is link-local control traffic, never a data group
  if (typeof group !== 'string' || parsed === undefined || parsed.base < 0xe0000100 || parsed.base + 2 ** (32 - parsed.length) > 0xf0000000) {
    bad('network.overlay.group', 'must be an IPv4 multicast range a.b.c.d/len inside 224.0.1.0-239.255.255.255 (host bits zero)', group);
  }
  return { kind: 'vxlan', vniBase, vniCount, port, mode, group, mtu };
}

function parseHost(v: unknown, path: string): HostNetworkConfig {
  const h = object(v, path);
  const prefix = h['prefix'] ?? 'pve';
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) bad(`${path}.prefix`, 'must be 1-6 lower-case letters or digits', prefix);
  return {
    prefix,
    ...(h['defaultBridge'] === undefined ? {} : { defaultBridge: interfaceName(h['defaultBridge'], `${path}.defaultBridge`) }),
    ...(h['defaultSubnet'] === undefined ? {} : { defaultSubnet: subnet(h['defaultSubnet'], `${path}.defaultSubnet`, 29) }),
    ...(h['trunk'] === undefined ? {} : { trunk: interfaceName(h['trunk'], `${path}.trunk`) }),
    ...(h['underlay'] === undefined ? {} : { underlay: parseUnderlay(h['underlay'], `${path}.underlay`) }),
  };
}

function parseDeclared(v: unknown, path: string): DeclaredNetwork {
  const n = object(v, path);
  const vlan = n['vlan'];
  if (vlan !== undefined && (typeof vlan !== 'number' || !Number.isSafeInteger(vlan) || vlan < 1 || vlan > 4094)) bad(`${path}.vlan`, 'must be a VLAN id from 1 to 4094', vlan);
  return {
    ...(vlan === undefined ? {} : { vlan }),
    ...(n['subnet'] === undefined ? {} : { subnet: subnet(n['subnet'], `${path}.subnet`, 29) }),
    users: names(n['users'], `${path}.users`, USER_PATTERN),
    groups: names(n['groups'], `${path}.groups`, USER_PATTERN),
  };
}

// Absent section = every default: bridges named pve..., four NICs, no declared networks.
export function parseNetworkConfig(v: unknown): NetworkConfig {
  if (v === undefined) return { maxNics: DEFAULT_MAX_NICS, hosts: {}, networks: {}, subnetPool: DEFAULT_SUBNET_POOL };
  const o = object(v, 'network');
  const maxNics = o['maxNics'] ?? DEFAULT_MAX_NICS;
  if (typeof maxNics !== 'number' || !Number.isSafeInteger(maxNics) || maxNics < 1 || maxNics > 16) bad('network.maxNics', 'must be a whole number from 1 to 16', maxNics);
  const hosts: Record<string, HostNetworkConfig> = {};
  for (const [host, value] of Object.entries(object(o['hosts'] ?? {}, 'network.hosts'))) hosts[host] = parseHost(value, `network.hosts.${host}`);
  // an underlay address is one host's: "default" stands for many hosts, so it cannot have one
  if (hosts['default']?.underlay !== undefined) bad('network.hosts.default.underlay', 'must be set per host (an address is one host\'s)', o['hosts']);
  const overlay = o['overlay'] === undefined ? undefined : parseOverlay(o['overlay']);
  if (overlay?.mode === 'multicast') {
    for (const [host, h] of Object.entries(hosts)) {
      if (h.underlay !== undefined && h.underlay.device === undefined) bad(`network.hosts.${host}.underlay.device`, 'is needed with network.overlay.mode "multicast" (the kernel joins groups on a device)', undefined);
    }
  }
  const addresses = Object.entries(hosts).flatMap(([host, h]) => (h.underlay === undefined ? [] : [[host, h.underlay.address] as const]));
  for (const [host, address] of addresses) {
    const other = addresses.find(([h, a]) => a === address && h !== host);
    if (other !== undefined) bad(`network.hosts.${host}.underlay.address`, `must differ from every other host's (${other[0]} has it too)`, address);
  }
  const networks: Record<string, DeclaredNetwork> = {};
  for (const [name, value] of Object.entries(object(o['networks'] ?? {}, 'network.networks'))) {
    if (!NETWORK_NAME_PATTERN.test(name) || name === DEFAULT_NETWORK) bad(`network.networks.${name}`, `the name must match ${String(NETWORK_NAME_PATTERN)} and not be "${DEFAULT_NETWORK}"`, name);
    networks[name] = parseDeclared(value, `network.networks.${name}`);
  }
  return {
    maxNics, hosts, networks, subnetPool: subnet(o['subnetPool'] ?? DEFAULT_SUBNET_POOL, 'network.subnetPool', 22),
    ...(overlay === undefined ? {} : { overlay }),
  };
}

// The host's own section, or "default", or the built-in defaults.
export function findHostNetwork(config: NetworkConfig, host: string): HostNetworkConfig {
  return config.hosts[host] ?? config.hosts['default'] ?? { prefix: 'pve' };
}
