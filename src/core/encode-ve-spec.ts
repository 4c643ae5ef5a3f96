import { VeError } from './ve-error.js';
import { validateVeSpec } from './validate-ve-spec.js';
import type { VeSpec } from './ve-spec.js';

const PREFIX = 'v1.';
/** a sanity bound for decoding; the cluster's own bound is config batch.maxNodes */
export const MAX_VE_NODES = 1024;

/** The spec as one token of [A-Za-z0-9_.-]: survives TORQUE -v comma splitting, shells and job scripts. */
export function encodeVeSpec(spec: VeSpec): string {
  const disks = spec.disks ?? [];
  const sshKeys = spec.sshKeys ?? [];
  // disks/keepDisks/sshKeys only when used: a token without them decodes on hosts of the previous version too
  const json = JSON.stringify({
    name: spec.name, type: spec.type, image: spec.image, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, leaseSeconds: spec.leaseSeconds,
    ...(disks.length === 0 ? {} : { disks }),
    ...(spec.keepDisks === true ? { keepDisks: true } : {}),
    ...(sshKeys.length === 0 ? {} : { sshKeys }),
    ...(spec.nodes !== undefined && spec.nodes > 1 ? { nodes: spec.nodes } : {}),
    ...(spec.networks === undefined || spec.networks.length === 0 ? {} : { networks: spec.networks }),
    ...(spec.addresses === undefined || spec.addresses.every((a) => a === '') ? {} : { addresses: spec.addresses }),
    ...(spec.hostname === undefined ? {} : { hostname: spec.hostname }),
    ...(spec.hosts === undefined || spec.hosts.length === 0 ? {} : { hosts: spec.hosts }),
    ...(spec.cluster === undefined ? {} : { cluster: spec.cluster }),
    ...(spec.bootScript === undefined ? {} : { bootScript: spec.bootScript }),
  });
  return PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

/** room for the largest spec: 4 SSH keys of 1024 characters each, 256 /etc/hosts entries and a 4 KiB boot script, base64 encoded */
const MAX_ENCODED = 128 * 1024;

// Decoding runs as root on what a user submitted: re-validate everything, trust nothing.
export function decodeVeSpec(token: string): VeSpec {
  if (token.length > MAX_ENCODED || !token.startsWith(PREFIX) || !/^[A-Za-z0-9_-]*$/.test(token.slice(PREFIX.length))) {
    throw new VeError('invalid-spec-encoding', 'prereq', `VE spec: not a pbs-ve v1 token (expected "v1." and base64url, at most ${MAX_ENCODED} chars)`, { field: 'spec' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch (err) {
    throw new VeError('invalid-spec-encoding', 'prereq', 'VE spec: token does not hold JSON', { field: 'spec', cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new VeError('invalid-spec-encoding', 'prereq', 'VE spec: token does not hold a JSON object', { field: 'spec' });
  }
  const o = parsed as Record<string, unknown>;
  // bounds here are only sanity limits; the prologue checks the real allocation afterwards
  return validateVeSpec(
    { name: o['name'], type: o['type'], image: o['image'], vcpus: o['vcpus'], memory: o['memoryMiB'], lease: o['leaseSeconds'], disks: o['disks'], keepDisks: o['keepDisks'], sshKeys: o['sshKeys'], nodes: o['nodes'], networks: o['networks'],
      addresses: o['addresses'], hostname: o['hostname'], hosts: o['hosts'], cluster: o['cluster'], bootScript: o['bootScript'] },
    // NIC count: the prologue checks the host's configured maximum (network.maxNics) afterwards
    { maxVcpus: 4096, maxMemoryMiB: 64 * 1024 * 1024, maxLeaseSeconds: 10 * 365 * 86400, minMemoryMiB: 1, maxNodes: MAX_VE_NODES, maxNics: 64 },
  );
}

// not "#PBS...": qsub and sbatch both read such lines as submit options
const SCRIPT_MARKER = '# pbs-ve spec ';

// The spec line in the job script is what the prologue trusts (qalter -v cannot replace it).
export function formatSpecLine(spec: VeSpec): string {
  return SCRIPT_MARKER + encodeVeSpec(spec);
}

// Non-VE jobs have no marker line: undefined tells the prologue to step aside.
export function findSpecToken(script: string): string | undefined {
  for (const line of script.split('\n', 64)) {
    if (line.startsWith(SCRIPT_MARKER)) return line.slice(SCRIPT_MARKER.length).trim();
  }
  return undefined;
}
