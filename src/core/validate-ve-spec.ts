import { invalidField } from './ve-error.js';
import { isVeType, VE_TYPES } from './ve-type.js';
import { parseDurationSeconds, parseMemoryMiB } from './parse-size.js';
import { validateSshPublicKeys } from './validate-ssh-public-key.js';
import { validateGuestHostname, validateHostEntries } from './validate-ve-hosts.js';
import { validateBootScript } from './validate-boot-script.js';
import type { VeSpec } from './ve-spec.js';
import { findHostPart, parseIpv4Prefix } from './parse-ipv4-prefix.js';

/** Raw values as a user typed them (CLI flags) or as decoded from a job. */
export interface RawVeSpec {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly image?: unknown;
  readonly vcpus?: unknown;
  readonly memory?: unknown;
  readonly lease?: unknown;
  /** data disk sizes as typed (10G, 512M) or MiB numbers; absent = none */
  readonly disks?: unknown;
  readonly keepDisks?: unknown;
  /** OpenSSH public key lines; absent = none */
  readonly sshKeys?: unknown;
  /** nodes (parts) of the VE; absent = 1 */
  readonly nodes?: unknown;
  /** network names, one NIC each; absent = one NIC on the default network */
  readonly networks?: unknown;
  /** per NIC: "a.b.c.d/len" or '' (DHCP); absent = all DHCP */
  readonly addresses?: unknown;
  /** the guest's host name; absent = the VE name */
  readonly hostname?: unknown;
  /** [{name, address}] for the guest's /etc/hosts */
  readonly hosts?: unknown;
  /** {name, role}: the virtual cluster the VE belongs to */
  readonly cluster?: unknown;
  /** the guest's boot script (a cluster role's `run`); absent = none */
  readonly bootScript?: unknown;
}

/** Bounds that depend on the cluster: the largest host and the queue's walltime limit. */
export interface SpecLimits {
  readonly maxVcpus: number;
  readonly maxMemoryMiB: number;
  readonly maxLeaseSeconds: number;
  readonly minMemoryMiB: number;
  /** the most nodes one VE may span (absent = 1: multi-node VEs are refused) */
  readonly maxNodes?: number;
  /** most NICs one VE may have (config network.maxNics); default DEFAULT_MAX_NICS */
  readonly maxNics?: number;
}

export const VE_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** more data disks than this is a request for a storage server, not a VE */
export const MAX_DATA_DISKS = 4;
/** a sanity bound only; whether the host has the space is checked by the prologue (statfs) */
export const MAX_DISK_MIB = 16 * 1024 * 1024;

/** a network name becomes part of libvirt network names and LDAP values: short, lower case, no dots */
export const NETWORK_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
/** the name of the host's shared default network (what a VE without --network gets) */
export const DEFAULT_NETWORK = 'default';
export const DEFAULT_MAX_NICS = 4;

export const IMAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

// A VE name becomes a host name, a domain title and an LDAP value: only a DNS label is safe everywhere.
export function validateVeName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !VE_NAME_PATTERN.test(value)) {
    throw invalidField(field, 'must be 1-63 letters, digits or inner hyphens (a DNS label)', value);
  }
  return value;
}

// Image names are catalog keys, never paths: no slash, no "..", no leading dot.
export function validateImageName(value: unknown, field = 'image'): string {
  if (typeof value !== 'string' || !IMAGE_NAME_PATTERN.test(value) || value.includes('..')) {
    throw invalidField(field, 'must be a catalog image name: letters, digits, "_", "-", "." (no "/" or "..")', value);
  }
  return value;
}

function validateCount(field: string, value: unknown, max: number): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^[0-9]{1,6}$/.test(text.trim())) {
    throw invalidField(field, `must be a whole number from 1 to ${max}`, value);
  }
  const n = Number(text);
  if (n < 1 || n > max) throw invalidField(field, `must be a whole number from 1 to ${max}`, value);
  return n;
}

// Disk sizes reach qemu-img and the host's free space: whole MiB, bounded, at most MAX_DATA_DISKS.
export function validateDiskSizes(value: unknown, field = 'disk'): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(field, 'must be a list of sizes', value);
  if (value.length > MAX_DATA_DISKS) throw invalidField(field, `at most ${MAX_DATA_DISKS} data disks`, value.length);
  return value.map((item: unknown) => {
    const text = typeof item === 'number' ? String(item) : item;
    if (typeof text !== 'string') throw invalidField(field, 'must be a size such as 512M, 10G or 1T', item);
    const mib = parseMemoryMiB(field, text);
    if (mib < 1 || mib > MAX_DISK_MIB) throw invalidField(field, `must be from 1 MiB to ${MAX_DISK_MIB / (1024 * 1024)} TiB`, item);
    return mib;
  });
}

// Network names reach libvirt and LDAP: strict names, bounded count, each network at most once.
export function validateNetworkNames(value: unknown, maxNics: number = DEFAULT_MAX_NICS, field = 'network'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(field, 'must be a list of network names', value);
  if (value.length > maxNics) throw invalidField(field, `at most ${maxNics} networks (one NIC each)`, value.length);
  const seen = new Set<string>();
  return value.map((item: unknown) => {
    if (typeof item !== 'string' || !NETWORK_NAME_PATTERN.test(item)) {
      throw invalidField(field, 'must be 1-31 lower-case letters, digits or "-", starting with a letter', item);
    }
    if (seen.has(item)) throw invalidField(field, 'names the same network twice', item);
    seen.add(item);
    return item;
  });
}

/** an RFC 1123 host name label (lower case: it reaches /etc/hostname and /etc/hosts) */
export const HOSTNAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** cluster and role names as the manifest allows them (src/clusters/parse-cluster-manifest.ts) */
export const CLUSTER_NAME_PATTERN = /^[a-z][a-z0-9]{0,19}$/;
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

// Static addresses reach domain XML and the guest's network config: a host address of a /8../30, one per NIC, never on the default network.
export function validateNicAddresses(value: unknown, networks: readonly string[], field = 'network'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(field, 'addresses must be a list, one per NIC', value);
  if (value.length > Math.max(networks.length, 1)) throw invalidField(field, `${value.length} addresses for ${Math.max(networks.length, 1)} NICs`, value.length);
  const addresses = value.map((item: unknown, i: number) => {
    if (item === '') return '';
    const prefix = parseIpv4Prefix(item);
    if (prefix === undefined || prefix.length < 8 || prefix.length > 30) {
      throw invalidField(field, 'a static address must be an IPv4 host address with its prefix length, A.B.C.D/LEN (LEN 8 to 30)', item);
    }
    const host = findHostPart(prefix);
    if (host === 0 || host === 2 ** (32 - prefix.length) - 1) throw invalidField(field, 'a static address must not be its network\'s network or broadcast address', item);
    if ((networks[i] ?? DEFAULT_NETWORK) === DEFAULT_NETWORK) throw invalidField(field, 'the default network gives addresses by DHCP: a static address is only for your private networks', item);
    return item as string;
  });
  return addresses.some((a) => a !== '') ? addresses : [];
}

// A cluster reference names LDAP entries and groups listings: the manifest's own name rules.
export function validateClusterRef(value: unknown, field = 'cluster'): { name: string; role: string } {
  const o = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  if (typeof o['name'] !== 'string' || !CLUSTER_NAME_PATTERN.test(o['name'])) throw invalidField(`${field}.name`, 'must be 1-20 lower-case letters and digits, starting with a letter', o['name']);
  if (typeof o['role'] !== 'string' || !ROLE_NAME_PATTERN.test(o['role'])) throw invalidField(`${field}.role`, 'must be 1-16 lower-case letters and digits, starting with a letter', o['role']);
  return { name: o['name'], role: o['role'] };
}

// Check arguments only (no I/O): every rule names its field so users can fix their command line.
export function validateVeSpec(raw: RawVeSpec, limits: SpecLimits): VeSpec {
  const name = validateVeName(raw.name);
  if (typeof raw.type !== 'string' || !isVeType(raw.type)) {
    throw invalidField('type', `must be one of ${VE_TYPES.join(', ')}`, raw.type);
  }
  const image = validateImageName(raw.image);
  const vcpus = validateCount('vcpus', raw.vcpus, limits.maxVcpus);
  const memoryText = typeof raw.memory === 'number' ? String(raw.memory) : raw.memory;
  if (typeof memoryText !== 'string') throw invalidField('memory', 'must be a size in MiB such as 256, 256M or 2G', raw.memory);
  const memoryMiB = parseMemoryMiB('memory', memoryText);
  if (memoryMiB < limits.minMemoryMiB || memoryMiB > limits.maxMemoryMiB) {
    throw invalidField('memory', `must be from ${limits.minMemoryMiB} to ${limits.maxMemoryMiB} MiB`, raw.memory);
  }
  const leaseText = typeof raw.lease === 'number' ? String(raw.lease) : raw.lease;
  if (typeof leaseText !== 'string') throw invalidField('lease', 'must be a duration such as 90m, 2h or HH:MM:SS', raw.lease);
  const leaseSeconds = parseDurationSeconds('lease', leaseText);
  if (leaseSeconds < 1 || leaseSeconds > limits.maxLeaseSeconds) {
    throw invalidField('lease', `must be more than 0 and at most ${limits.maxLeaseSeconds} s (the queue's walltime limit)`, raw.lease);
  }
  const disks = validateDiskSizes(raw.disks);
  if (raw.keepDisks !== undefined && typeof raw.keepDisks !== 'boolean') throw invalidField('keep-disk', 'must be true or false', raw.keepDisks);
  if (raw.keepDisks === true && disks.length === 0) throw invalidField('keep-disk', 'needs at least one --disk to keep', raw.keepDisks);
  const networks = validateNetworkNames(raw.networks, limits.maxNics ?? DEFAULT_MAX_NICS);
  const addresses = validateNicAddresses(raw.addresses, networks);
  if (raw.type === 'lxc' && disks.length > 0) throw invalidField('disk', 'data disks are only for --type kvm (LXC VEs cannot have them yet)', raw.disks);
  // whether the image takes keys (cloud-init or an SSH-ready LXC image) is the catalog's to say: ve create and the prologue check it
  const sshKeys = validateSshPublicKeys(raw.sshKeys);
  const hostname = raw.hostname === undefined ? undefined : validateGuestHostname(raw.hostname);
  const hosts = validateHostEntries(raw.hosts);
  const nodes = raw.nodes === undefined ? 1 : validateCount('nodes', raw.nodes, limits.maxNodes ?? 1);
  const cluster = raw.cluster === undefined ? undefined : validateClusterRef(raw.cluster);
  const bootScript = raw.bootScript === undefined ? undefined : validateBootScript(raw.bootScript);
  if (nodes > 1 && disks.length > 0) throw invalidField('disk', 'multi-node VEs cannot have data disks yet', raw.disks);
  // optional parts appear only when used, so specs without them stay identical to older versions
  return {
    version: 1, name, type: raw.type, image, vcpus, memoryMiB, leaseSeconds,
    ...(disks.length === 0 ? {} : { disks }),
    ...(raw.keepDisks === true ? { keepDisks: true } : {}),
    ...(sshKeys.length === 0 ? {} : { sshKeys }),
    ...(nodes > 1 ? { nodes } : {}),
    ...(networks.length === 0 ? {} : { networks }),
    ...(addresses.length === 0 ? {} : { addresses }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(hosts.length === 0 ? {} : { hosts }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(bootScript === undefined ? {} : { bootScript }),
  };
}
