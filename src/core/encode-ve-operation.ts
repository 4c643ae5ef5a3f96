// A lifecycle operation on a running VE (snapshot, list, rollback), as one inert token in an op job's script.
import { VeError, invalidField } from './ve-error.js';
import { JOB_ID_PATTERN } from './build-domain-name.js';

export const VE_OPERATION_KINDS = ['snapshot', 'list-snapshots', 'rollback'] as const;
export type VeOperationKind = (typeof VE_OPERATION_KINDS)[number];

/** What the owner asks for; the prologue of the op job decides whether the owner may. */
export interface VeOperation {
  readonly kind: VeOperationKind;
  /** the VE's job id */
  readonly target: string;
  /** snapshot and rollback only */
  readonly snapshot?: string;
}

/** what a snapshot name may be: it becomes a directory name and a libvirt snapshot name */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const PREFIX = 'v1.';
const MAX_ENCODED = 1024;
// not "#PBS" / "#SBATCH": neither qsub nor sbatch may read it as an option
const SCRIPT_MARKER = '# pbs-ve op ';

// Snapshot names reach root's file system and virsh: one rule, checked on both sides.
export function validateSnapshotName(name: unknown, field = 'snapshot'): string {
  if (typeof name !== 'string' || !SNAPSHOT_NAME.test(name)) {
    throw invalidField(field, 'must be 1-63 letters, digits, _ . - starting with a letter or digit', name);
  }
  return name;
}

// Both ends build and read operations through here, so they agree on what is valid.
export function validateVeOperation(raw: unknown): VeOperation {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidField('operation', 'must be an object');
  const o = raw as Record<string, unknown>;
  const kind = o['kind'];
  if (typeof kind !== 'string' || !(VE_OPERATION_KINDS as readonly string[]).includes(kind)) {
    throw invalidField('operation', `must be one of ${VE_OPERATION_KINDS.join(', ')}`, kind);
  }
  const target = o['target'];
  if (typeof target !== 'string' || !JOB_ID_PATTERN.test(target)) throw invalidField('target', 'must be a batch job id', target);
  if (kind === 'list-snapshots') {
    if (o['snapshot'] !== undefined) throw invalidField('snapshot', 'not used when listing');
    return { kind, target };
  }
  return { kind: kind as VeOperationKind, target, snapshot: validateSnapshotName(o['snapshot']) };
}

/** The operation as a token of [A-Za-z0-9_.-]. */
export function encodeVeOperation(op: VeOperation): string {
  const checked = validateVeOperation(op);
  const json = JSON.stringify({ kind: checked.kind, target: checked.target, ...(checked.snapshot === undefined ? {} : { snapshot: checked.snapshot }) });
  return PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

// Runs as root on what a user submitted: shape, size and every field are checked again.
export function decodeVeOperation(token: string): VeOperation {
  if (token.length > MAX_ENCODED || !token.startsWith(PREFIX) || !/^[A-Za-z0-9_-]*$/.test(token.slice(PREFIX.length))) {
    throw new VeError('invalid-operation-encoding', 'prereq', `VE operation: not a pbs-ve v1 token (expected "v1." and base64url, at most ${MAX_ENCODED} chars)`, { field: 'operation' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch (err) {
    throw new VeError('invalid-operation-encoding', 'prereq', 'VE operation: token does not hold JSON', { field: 'operation', cause: err });
  }
  return validateVeOperation(parsed);
}

export function formatOperationLine(op: VeOperation): string {
  return SCRIPT_MARKER + encodeVeOperation(op);
}

// Jobs without the marker line are no op jobs: undefined lets the prologue step aside.
export function findOperationToken(script: string): string | undefined {
  for (const line of script.split('\n', 64)) {
    if (line.startsWith(SCRIPT_MARKER)) return line.slice(SCRIPT_MARKER.length).trim();
  }
  return undefined;
}
