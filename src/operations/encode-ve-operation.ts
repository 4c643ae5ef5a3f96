// An operation on a VE is data: kind, target and arguments, one inert token in an op job's script, built
// and read through here on both sides (the owner's `ve`, root's prologue on the VE's host).
import { VeError, invalidField } from '../core/ve-error.js';
import { JOB_ID_PATTERN } from '../core/build-domain-name.js';
import { VE_OPERATION_KINDS, type VeOperationKind } from './ve-transitions.js';

export { VE_OPERATION_KINDS, type VeOperationKind };

/** What the owner asks for; the prologue of the op job decides whether the owner may. */
export interface VeOperation {
  readonly kind: VeOperationKind;
  /** the VE's job id */
  readonly target: string;
  /** snapshot and rollback only */
  readonly snapshot?: string;
  /** stop: destroy at once instead of asking the guest to shut down */
  readonly force?: boolean;
  /** stop: seconds the guest gets to shut down before it is destroyed (1-3600) */
  readonly timeoutSeconds?: number;
  /** restart: destroy and start again instead of asking the guest to reboot */
  readonly hard?: boolean;
  /** suspend (QEMU): save the memory to disk and free it (libvirt managed save) */
  readonly toDisk?: boolean;
  /** extend: seconds added to the lease (the job's time limit), at most the site's maximum lease */
  readonly addSeconds?: number;
  /** migrate: the destination host, as the batch system names it */
  readonly to?: string;
  /** migrate (QEMU): move the running guest without stopping it (libvirt live migration) */
  readonly live?: boolean;
}

/** a host name as both batch systems write it: it reaches scontrol/qalter arguments and libvirt URIs */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

/** what a snapshot name may be: it becomes a directory name and a libvirt snapshot name */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const MAX_STOP_TIMEOUT_SECONDS = 3600;
/** a bound for the token alone: a year; the host holds the lease to the site's maximum */
export const MAX_EXTEND_SECONDS = 366 * 86400;

const PREFIX = 'v1.';
const MAX_ENCODED = 1024;
// not "#PBS" / "#SBATCH": neither qsub nor sbatch may read it as an option
const SCRIPT_MARKER = '# pbs-ve op ';
/** which arguments each kind takes; any other is refused, so a token means one thing only */
const ARGUMENTS: Readonly<Record<VeOperationKind, readonly (keyof VeOperation)[]>> = {
  stop: ['force', 'timeoutSeconds'],
  start: [],
  restart: ['hard'],
  suspend: ['toDisk'],
  resume: [],
  extend: ['addSeconds'],
  snapshot: ['snapshot'],
  'list-snapshots': [],
  rollback: ['snapshot'],
  migrate: ['to', 'live'],
};

// Snapshot names reach root's file system and virsh: one rule, checked on both sides.
export function validateSnapshotName(name: unknown, field = 'snapshot'): string {
  if (typeof name !== 'string' || !SNAPSHOT_NAME.test(name)) {
    throw invalidField(field, 'must be 1-63 letters, digits, _ . - starting with a letter or digit', name);
  }
  return name;
}

function readFlag(o: Record<string, unknown>, field: 'force' | 'hard' | 'toDisk' | 'live'): { [k: string]: boolean } {
  const v = o[field];
  if (v === undefined) return {};
  if (typeof v !== 'boolean') throw invalidField(field, 'must be true or false', v);
  return { [field]: v };
}

// Both ends build and read operations through here, so they agree on what is valid.
export function validateVeOperation(raw: unknown): VeOperation {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidField('operation', 'must be an object');
  const o = raw as Record<string, unknown>;
  const kind = o['kind'];
  if (typeof kind !== 'string' || !(VE_OPERATION_KINDS as readonly string[]).includes(kind)) {
    throw invalidField('operation', `must be one of ${VE_OPERATION_KINDS.join(', ')}`, kind);
  }
  const k = kind as VeOperationKind;
  const target = o['target'];
  if (typeof target !== 'string' || !JOB_ID_PATTERN.test(target)) throw invalidField('target', 'must be a batch job id', target);
  for (const key of Object.keys(o)) {
    if (key !== 'kind' && key !== 'target' && !(ARGUMENTS[k] as readonly string[]).includes(key) && o[key] !== undefined) {
      throw invalidField(key, `not an argument of ${k} (it takes ${ARGUMENTS[k].join(', ') || 'none'})`);
    }
  }
  const timeout = o['timeoutSeconds'];
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > MAX_STOP_TIMEOUT_SECONDS)) {
    throw invalidField('timeout', `must be a whole number of seconds from 1 to ${MAX_STOP_TIMEOUT_SECONDS}`, timeout);
  }
  const add = o['addSeconds'];
  if (k === 'extend' && (typeof add !== 'number' || !Number.isInteger(add) || add < 60 || add > MAX_EXTEND_SECONDS)) {
    throw invalidField('lease', `must add a whole number of seconds from 60 (1m) to ${MAX_EXTEND_SECONDS} (the site's maximum lease is checked on the host)`, add);
  }
  const snapshot = k === 'snapshot' || k === 'rollback' ? { snapshot: validateSnapshotName(o['snapshot']) } : {};
  const to = o['to'];
  if (k === 'migrate' && (typeof to !== 'string' || !HOST_NAME.test(to))) throw invalidField('to', 'must be one host name (letters, digits, "." and "-")', to);
  return {
    kind: k, target, ...snapshot, ...readFlag(o, 'force'), ...readFlag(o, 'hard'), ...readFlag(o, 'toDisk'), ...readFlag(o, 'live'),
    ...(typeof to === 'string' ? { to } : {}),
    ...(typeof timeout === 'number' ? { timeoutSeconds: timeout } : {}),
    ...(typeof add === 'number' ? { addSeconds: add } : {}),
  };
}

/** The operation as a token of [A-Za-z0-9_.-]. */
export function encodeVeOperation(op: VeOperation): string {
  const json = JSON.stringify(validateVeOperation(op));
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
