// A virtual cluster's manifest (ve cluster up lab.yaml): YAML or JSON, parsed with the `yaml` library and
// validated field by field; every error names the line and the field, and nothing is asked of any service.
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import { VeError } from '../core/ve-error.js';
import { parseDurationSeconds, parseMemoryMiB } from '../core/parse-size.js';
import { validateImageName, validateVeName, NETWORK_NAME_PATTERN, VE_NAME_PATTERN } from '../core/validate-ve-spec.js';
import { validateSshPublicKey, MAX_SSH_KEYS } from '../core/validate-ssh-public-key.js';
import { validateBootScript } from '../core/validate-boot-script.js';
import { validateClusterSubnet } from './validate-cluster-subnet.js';
import { countRoles, planClusterAddresses } from './plan-cluster-addresses.js';

/** one group of identical members: a head, or a scalable group of computes */
export interface ClusterRole {
  readonly role: string;
  readonly type: 'lxc' | 'kvm';
  readonly image: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly count: number;
  /** numbered members (<cluster>-<role><n>) that ve cluster scale may add or remove */
  readonly scalable: boolean;
  /** the members' boot script (`run: |`): run inside each member at every boot, a recreated one too; absent = none */
  readonly run?: string;
}

export interface ClusterManifest {
  readonly name: string;
  readonly leaseSeconds: number;
  /** the cluster's private network: one per cluster, across hosts */
  readonly network: string;
  /** the cluster network's subnet (a.b.c.0/len); members get static addresses from it (head .10, ...) */
  readonly subnet: string;
  readonly sshKeys: readonly string[];
  readonly roles: readonly ClusterRole[];
}

/** the most members one cluster may have, whatever the roles say */
export const MAX_CLUSTER_MEMBERS = 64;
const CLUSTER_NAME = /^[a-z][a-z0-9]{0,19}$/;
const ROLE_NAME = /^[a-z][a-z0-9]{0,15}$/;
const TOP_KEYS = ['name', 'lease', 'network', 'subnet', 'ssh_keys', 'roles'];
/** the subnet a manifest without `subnet:` gets */
export const DEFAULT_CLUSTER_SUBNET = '10.99.0.0/24';
const ROLE_KEYS = ['role', 'type', 'image', 'vcpus', 'memory', 'count', 'scalable', 'run'];
/** all roles' boot scripts together: the intent job carries them (a TORQUE job variable) */
export const MAX_MANIFEST_RUN_BYTES = 8192;

type Where = (node: Node | null | undefined) => string;

function fail(where: string, field: string, rule: string, got?: unknown): never {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  throw new VeError('invalid-manifest', 'prereq', `${where}${field}: ${rule}${shown}`, { field });
}

// Each value is checked with the node it came from, so the message can say where it is.
function readText(map: Node, key: string, field: string, at: Where, fallback?: string): string {
  const node = isMap(map) ? map.get(key, true) as Node | undefined : undefined;
  const value = node === undefined ? fallback : (node as { toJSON(): unknown }).toJSON();
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string' || value === '') fail(at(node ?? map), field, 'must be a non-empty text', value);
  return value;
}

function readCount(map: Node, key: string, field: string, at: Where, fallback: number, max: number): number {
  const node = isMap(map) ? map.get(key, true) as Node | undefined : undefined;
  const value = node === undefined ? fallback : (node as { toJSON(): unknown }).toJSON();
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) fail(at(node ?? map), field, `must be a whole number from 1 to ${max}`, value);
  return value;
}

// Turns a library or rule error into one that names the line.
function checked<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VeError) throw new VeError('invalid-manifest', 'prereq', `${where}${err.message}`, { field: err.field ?? 'manifest', cause: err });
    throw err;
  }
}

function checkKeys(map: Node, allowed: readonly string[], at: Where, prefix: string): void {
  if (!isMap(map)) return;
  for (const pair of map.items) {
    const key = (pair.key as { toJSON(): unknown } | null)?.toJSON();
    if (typeof key !== 'string' || !allowed.includes(key)) fail(at(pair.key as Node), `${prefix}${String(key)}`, `unknown field; allowed: ${allowed.join(', ')}`);
  }
}

function readRole(node: Node, index: number, at: Where): ClusterRole {
  const prefix = `roles[${index}].`;
  if (!isMap(node)) fail(at(node), `roles[${index}]`, 'must be a mapping with role, type, image ...');
  checkKeys(node, ROLE_KEYS, at, prefix);
  const role = readText(node, 'role', `${prefix}role`, at);
  if (!ROLE_NAME.test(role)) fail(at(node.get('role', true)), `${prefix}role`, 'must be 1-16 lowercase letters and digits, starting with a letter', role);
  const type = readText(node, 'type', `${prefix}type`, at);
  if (type !== 'lxc' && type !== 'kvm') fail(at(node.get('type', true)), `${prefix}type`, 'must be lxc or kvm', type);
  const image = checked(at(node.get('image', true) as Node), () => validateImageName(readText(node, 'image', `${prefix}image`, at), `${prefix}image`));
  const memoryMiB = checked(at(node.get('memory', true) as Node), () => parseMemoryMiB(`${prefix}memory`, readText(node, 'memory', `${prefix}memory`, at, '256M')));
  const scalableNode = node.get('scalable', true) as Node | undefined;
  const scalable = scalableNode === undefined ? false : (scalableNode as { toJSON(): unknown }).toJSON();
  if (typeof scalable !== 'boolean') fail(at(scalableNode), `${prefix}scalable`, 'must be true or false', scalable);
  const runNode = node.get('run', true) as Node | undefined;
  const run = runNode === undefined ? undefined : checked(at(runNode), () => validateBootScript((runNode as { toJSON(): unknown }).toJSON(), `${prefix}run`));
  return {
    role, type, image, memoryMiB, scalable,
    ...(run === undefined ? {} : { run }),
    vcpus: readCount(node, 'vcpus', `${prefix}vcpus`, at, 1, 64),
    count: readCount(node, 'count', `${prefix}count`, at, 1, MAX_CLUSTER_MEMBERS),
  };
}

/** Parses and validates a manifest; `source` (the file name) starts every error message. */
export function parseClusterManifest(text: string, source = 'manifest'): ClusterManifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at: Where = (node) => {
    const offset = node?.range?.[0];
    return offset === undefined ? `${source}: ` : `${source}:${lines.linePos(offset).line}: `;
  };
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = lines.linePos(first.pos[0]).line;
    throw new VeError('invalid-manifest', 'prereq', `${source}:${line}: not valid YAML or JSON: ${first.message.split('\n')[0] ?? ''}`, { field: 'manifest' });
  }
  const root = doc.contents;
  if (root === null || !isMap(root)) fail(`${source}: `, 'manifest', 'must be a mapping with name, roles ...');
  checkKeys(root, TOP_KEYS, at, '');
  const name = readText(root, 'name', 'name', at);
  if (!CLUSTER_NAME.test(name)) fail(at(root.get('name', true)), 'name', 'must be 1-20 lowercase letters and digits, starting with a letter (members are named <name>-<role>[<n>])', name);
  const leaseSeconds = checked(at(root.get('lease', true) as Node), () => parseDurationSeconds('lease', readText(root, 'lease', 'lease', at, '2h')));
  const network = readText(root, 'network', 'network', at, name);
  if (!NETWORK_NAME_PATTERN.test(network) || network === 'default') fail(at(root.get('network', true)), 'network', 'must be a private network name (a-z, 0-9, "-"; not "default")', network);
  const subnet = checked(at(root.get('subnet', true) as Node), () => validateClusterSubnet(readText(root, 'subnet', 'subnet', at, DEFAULT_CLUSTER_SUBNET)));
  const keysNode = root.get('ssh_keys', true) as Node | undefined;
  if (keysNode !== undefined && !isSeq(keysNode)) fail(at(keysNode), 'ssh_keys', 'must be a list of SSH public keys');
  const keyItems = keysNode === undefined ? [] : (keysNode as { items: Node[] }).items;
  if (keyItems.length > MAX_SSH_KEYS) fail(at(keysNode), 'ssh_keys', `must hold at most ${MAX_SSH_KEYS} keys`, keyItems.length);
  const sshKeys = keyItems.map((k, i) => checked(at(k), () => validateSshPublicKey((k as { toJSON(): unknown }).toJSON(), `ssh_keys[${i}]`)));
  const rolesNode = root.get('roles', true) as Node | undefined;
  if (rolesNode === undefined || !isSeq(rolesNode) || rolesNode.items.length === 0) fail(at(rolesNode ?? root), 'roles', 'must be a non-empty list of roles');
  const roles = (rolesNode.items as Node[]).map((node, i) => readRole(node, i, at));
  const seen = new Set<string>();
  for (const [i, r] of roles.entries()) {
    if (seen.has(r.role)) fail(at(rolesNode.items[i] as Node), `roles[${i}].role`, 'must be unique in the cluster', r.role);
    seen.add(r.role);
  }
  const runBytes = roles.reduce((n, r) => n + Buffer.byteLength(r.run ?? '', 'utf8'), 0);
  if (runBytes > MAX_MANIFEST_RUN_BYTES) fail(at(rolesNode), 'roles', `run: the boot scripts of all roles must add up to at most ${MAX_MANIFEST_RUN_BYTES} bytes`, `${runBytes} bytes`);
  const total = roles.reduce((n, r) => n + r.count, 0);
  if (total > MAX_CLUSTER_MEMBERS) fail(at(rolesNode), 'roles', `must add up to at most ${MAX_CLUSTER_MEMBERS} members`, total);
  const manifest: ClusterManifest = { name, leaseSeconds, network, subnet, sshKeys, roles };
  // every member needs an address of the subnet: checked here too (planClusterAddresses says which role lacks room)
  checked(at(root.get('subnet', true) as Node), () => planClusterAddresses(manifest, countRoles(manifest)));
  // every member name must be a valid VE name: checked here, before any service is asked
  for (const member of listClusterMembers(manifest)) checked(`${source}: `, () => validateVeName(member.name, 'member name'));
  return manifest;
}

export interface ClusterMember {
  readonly name: string;
  readonly role: string;
  /** 1-based within a numbered role; 0 for a single-member role */
  readonly index: number;
}

// Stable names: <cluster>-<role> for a single, unscalable member, <cluster>-<role><n> otherwise.
export function listClusterMembers(manifest: Pick<ClusterManifest, 'name' | 'roles'>): ClusterMember[] {
  const members: ClusterMember[] = [];
  for (const r of manifest.roles) {
    if (r.count === 1 && !r.scalable) {
      members.push({ name: `${manifest.name}-${r.role}`, role: r.role, index: 0 });
      continue;
    }
    for (let i = 1; i <= r.count; i++) members.push({ name: `${manifest.name}-${r.role}${i}`, role: r.role, index: i });
  }
  if (members.some((m) => !VE_NAME_PATTERN.test(m.name))) throw new VeError('invalid-manifest', 'prereq', 'a member name is not a valid VE name', { field: 'name' });
  return members;
}
