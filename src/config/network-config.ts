// The optional "network" section of config.json: per-host bridges and trunks, admin-declared networks.
import { VeError } from '../core/ve-error.js';
import { DEFAULT_MAX_NICS, DEFAULT_NETWORK, NETWORK_NAME_PATTERN } from '../core/validate-ve-spec.js';

export interface HostNetworkConfig {
  /** 1-6 of [a-z0-9]: the start of every bridge and host-side NIC name pbs-ve makes (unique per network namespace) */
  readonly prefix: string;
  /** an existing bridge the admin made (e.g. br0 on the LAN): the default network uses it, unmanaged */
  readonly defaultBridge?: string;
  /** IPv4 /24../30 the default network serves by DHCP when pbs-ve makes its bridge; default: one from subnetPool */
  readonly defaultSubnet?: string;
  /** host interface carrying tagged VLANs; declared networks with a vlan get <trunk>.<vlan> on their bridge */
  readonly trunk?: string;
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
}

export const DEFAULT_SUBNET_POOL = '10.213.0.0/16';
const PREFIX_PATTERN = /^[a-z0-9]{1,6}$/;
/** Linux interface names: at most 15 characters, no "/" or whitespace; stricter here */
export const INTERFACE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function bad(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-config', 'environment', `config ${field}: ${rule} (got ${JSON.stringify(got)})`, { field });
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object', v);
  return v as Record<string, unknown>;
}

/** a.b.c.d/len as [address as a 32-bit number, prefix length]; undefined when malformed */
export function parseCidr(text: string): { readonly base: number; readonly length: number } | undefined {
  const m = CIDR_PATTERN.exec(text);
  if (m === null) return undefined;
  const parts = m.slice(1, 5).map(Number);
  const length = Number(m[5]);
  if (parts.some((p) => p > 255) || length > 32) return undefined;
  const base = parts.reduce((acc, p) => acc * 256 + p, 0);
  const size = 2 ** (32 - length);
  if (base % size !== 0) return undefined;
  return { base, length };
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

function parseHost(v: unknown, path: string): HostNetworkConfig {
  const h = object(v, path);
  const prefix = h['prefix'] ?? 'pve';
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) bad(`${path}.prefix`, 'must be 1-6 lower-case letters or digits', prefix);
  return {
    prefix,
    ...(h['defaultBridge'] === undefined ? {} : { defaultBridge: interfaceName(h['defaultBridge'], `${path}.defaultBridge`) }),
    ...(h['defaultSubnet'] === undefined ? {} : { defaultSubnet: subnet(h['defaultSubnet'], `${path}.defaultSubnet`, 29) }),
    ...(h['trunk'] === undefined ? {} : { trunk: interfaceName(h['trunk'], `${path}.trunk`) }),
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
  const networks: Record<string, DeclaredNetwork> = {};
  for (const [name, value] of Object.entries(object(o['networks'] ?? {}, 'network.networks'))) {
    if (!NETWORK_NAME_PATTERN.test(name) || name === DEFAULT_NETWORK) bad(`network.networks.${name}`, `the name must match ${String(NETWORK_NAME_PATTERN)} and not be "${DEFAULT_NETWORK}"`, name);
    networks[name] = parseDeclared(value, `network.networks.${name}`);
  }
  return { maxNics, hosts, networks, subnetPool: subnet(o['subnetPool'] ?? DEFAULT_SUBNET_POOL, 'network.subnetPool', 22) };
}

// The host's own section, or "default", or the built-in defaults.
export function findHostNetwork(config: NetworkConfig, host: string): HostNetworkConfig {
  return config.hosts[host] ?? config.hosts['default'] ?? { prefix: 'pve' };
}
