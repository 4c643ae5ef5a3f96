// A cluster event from its owner: what `ve cluster up` and `ve cluster scale` decided (the manifest and
// each role's count), carried by a held job of the owner so the batch system vouches for who said it.
// ve-monitor reads it as root: decoding re-validates everything, as for a VE spec.
import { VeError } from '../core/ve-error.js';
import { parseClusterManifest, type ClusterManifest } from './parse-cluster-manifest.js';
import { planClusterAddresses, type RoleCounts } from './plan-cluster-addresses.js';

export interface ClusterIntent {
  /** orders one cluster's intents: milliseconds since the epoch when it was decided (later wins) */
  readonly seq: number;
  /** ISO 8601: when the cluster came up; its lease counts from here, through every scale */
  readonly createdAt: string;
  readonly manifest: ClusterManifest;
  /** how many members each role has now (a scalable role's count changes with ve cluster scale) */
  readonly counts: RoleCounts;
}

const PREFIX = 'c1.';
/** a manifest of 64 members' roles, 4 SSH keys and 8 KiB of boot scripts (JSON-escaped, base64) fits with room to spare */
const MAX_TOKEN = 48 * 1024;
/** seqs are epoch milliseconds: anything outside 2000..2200 is no seq of ours */
const MIN_SEQ = 946_684_800_000;
const MAX_SEQ = 7_258_118_400_000;

// The manifest as a file would hold it: decoding goes through the one manifest parser and its rules.
function toManifestFile(m: ClusterManifest): Record<string, unknown> {
  return {
    name: m.name, lease: String(m.leaseSeconds), network: m.network, subnet: m.subnet, ssh_keys: m.sshKeys,
    roles: m.roles.map((r) => ({ role: r.role, type: r.type, image: r.image, vcpus: r.vcpus, memory: `${r.memoryMiB}M`, count: r.count, scalable: r.scalable, ...(r.run === undefined ? {} : { run: r.run }) })),
  };
}

/** one token of [A-Za-z0-9_.-]: a job variable on TORQUE, a script line on both */
export function encodeClusterIntent(intent: ClusterIntent): string {
  const json = JSON.stringify({ seq: intent.seq, createdAt: intent.createdAt, manifest: toManifestFile(intent.manifest), counts: intent.counts });
  return PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

function refuse(rule: string, cause?: unknown): never {
  throw new VeError('invalid-cluster-intent', 'prereq', `cluster intent: ${rule}`, { field: 'cluster', ...(cause === undefined ? {} : { cause }) });
}

// Role counts against the manifest: known roles only, fixed roles as declared, room in the subnet.
export function checkRoleCounts(manifest: ClusterManifest, counts: unknown): RoleCounts {
  if (typeof counts !== 'object' || counts === null || Array.isArray(counts)) refuse('counts must be an object of role: number');
  const out: Record<string, number> = {};
  for (const [role, n] of Object.entries(counts)) {
    const declared = manifest.roles.find((r) => r.role === role);
    if (declared === undefined) refuse(`counts names role "${role.slice(0, 40)}", which the manifest does not declare`);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) refuse(`counts.${role} must be a whole number`);
    if (!declared.scalable && n !== declared.count) refuse(`role "${role}" is not scalable: its count stays ${declared.count}`);
    out[role] = n;
  }
  for (const r of manifest.roles) if (out[r.role] === undefined) refuse(`counts lacks role "${r.role}"`);
  planClusterAddresses(manifest, out);
  return out;
}

/** Decodes and re-validates a token someone else wrote (the job's owner may have edited it). */
export function decodeClusterIntent(token: string): ClusterIntent {
  if (token.length > MAX_TOKEN || !token.startsWith(PREFIX) || !/^[A-Za-z0-9_-]*$/.test(token.slice(PREFIX.length))) refuse(`not a pbs-ve c1 token (at most ${MAX_TOKEN} chars)`);
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) refuse('not a JSON object');
    o = parsed as Record<string, unknown>;
  } catch (err) {
    if (err instanceof VeError) throw err;
    refuse('not JSON', err);
  }
  const seq = o['seq'];
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < MIN_SEQ || seq > MAX_SEQ) refuse('seq must be epoch milliseconds');
  const createdAt = o['createdAt'];
  if (typeof createdAt !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z$/.test(createdAt) || Number.isNaN(Date.parse(createdAt))) refuse('createdAt must be an ISO 8601 UTC time');
  let manifest: ClusterManifest;
  try {
    manifest = parseClusterManifest(JSON.stringify(o['manifest'] ?? null), 'cluster intent');
  } catch (err) {
    refuse(err instanceof Error ? err.message : 'bad manifest', err);
  }
  return { seq, createdAt, manifest, counts: checkRoleCounts(manifest, o['counts']) };
}
