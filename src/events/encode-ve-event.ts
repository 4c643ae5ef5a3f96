import { VeError } from '../core/ve-error.js';
import { isVeState } from '../core/ve-state.js';
import { isVeType } from '../core/ve-type.js';
import { JOB_ID_PATTERN, MAX_PART } from '../core/build-domain-name.js';
import { MAX_VE_NODES } from '../core/encode-ve-spec.js';
import { IMAGE_NAME_PATTERN, VE_NAME_PATTERN } from '../core/validate-ve-spec.js';
import type { EventSource, VeEvent } from '../core/ve-event.js';
import { IPV4_PATTERN, MAC_PATTERN, type VeNic } from '../core/ve-nic.js';
import { NETWORK_NAME_PATTERN, validateClusterRef } from '../core/validate-ve-spec.js';
import { MAX_EVENT_SEQ } from './next-event-seq.js';

const SOURCES: readonly EventSource[] = ['prologue', 'epilogue', 'job-body', 'mom-hook', 'reconcile', 'recovery', 'operation'];
const HOST_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/;
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;
const DOMAIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ISO_PATTERN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

/** One event as one line of [A-Za-z0-9_-]: safe in a job script heredoc and in journals. */
export function encodeVeEvent(event: VeEvent): string {
  return Buffer.from(JSON.stringify(event), 'utf8').toString('base64url');
}

function fail(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-event', 'prereq', `event ${field}: ${rule} (got ${JSON.stringify(got)?.slice(0, 80) ?? 'nothing'})`, { field });
}

function str(o: Record<string, unknown>, field: string, pattern: RegExp, rule: string): string {
  const v = o[field];
  if (typeof v !== 'string' || !pattern.test(v)) fail(field, rule, v);
  return v;
}

function int(o: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(field, `must be a whole number from ${min} to ${max}`, v);
  return v;
}

const MAX_EVENT_NICS = 16;

// NICs reach LDAP values: each part strict, a bounded list.
function nics(o: Record<string, unknown>): readonly VeNic[] | undefined {
  const v = o['nics'];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_EVENT_NICS) fail('nics', `must be a list of at most ${MAX_EVENT_NICS} NICs`, v);
  return v.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) fail(`nics[${i}]`, 'must be an object', item);
    const n = item as Record<string, unknown>;
    const nic = {
      network: str(n, 'network', NETWORK_NAME_PATTERN, 'must be a network name'),
      mac: str(n, 'mac', MAC_PATTERN, 'must be a lower-case MAC address'),
    };
    return n['ip'] === undefined ? nic : { ...nic, ip: str(n, 'ip', IPV4_PATTERN, 'must be an IPv4 address') };
  });
}

// The monitor decodes what arrived in a job: every field is checked before it can reach LDAP.
export function decodeVeEvent(line: string): VeEvent {
  if (line.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(line)) fail('encoding', 'must be one base64url line of at most 8192 chars', line.slice(0, 40));
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(line, 'base64url').toString('utf8'));
  } catch (err) {
    throw new VeError('invalid-event', 'prereq', 'event: not JSON', { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('encoding', 'must be a JSON object', typeof parsed);
  const o = parsed as Record<string, unknown>;
  if (o['version'] !== 1) fail('version', 'must be 1', o['version']);
  const state = o['state'];
  if (typeof state !== 'string' || !isVeState(state) || state === 'pending') fail('state', 'must be a stored VE state', state);
  const type = o['type'];
  if (typeof type !== 'string' || !isVeType(type)) fail('type', 'must be kvm or lxc', type);
  const source = o['source'];
  if (typeof source !== 'string' || !(SOURCES as readonly string[]).includes(source)) fail('source', `must be one of ${SOURCES.join(', ')}`, source);
  const reason = o['reason'];
  if (typeof reason !== 'string' || reason.length > 256) fail('reason', 'must be a string of at most 256 chars', reason);
  // part and nodes come together (multi-node VEs) or not at all (single-node events as before)
  const multi = o['part'] !== undefined || o['nodes'] !== undefined;
  const nodes = multi ? int(o, 'nodes', 2, MAX_VE_NODES) : undefined;
  const part = multi ? int(o, 'part', 0, Math.min(MAX_PART, (nodes ?? 1) - 1)) : undefined;
  const nicList = nics(o);
  const cluster = o['cluster'] === undefined ? undefined : decodeClusterRef(o['cluster']);
  return {
    version: 1,
    jobId: str(o, 'jobId', JOB_ID_PATTERN, 'must be a batch job id'),
    seq: int(o, 'seq', 1, MAX_EVENT_SEQ),
    state,
    at: str(o, 'at', ISO_PATTERN, 'must be an ISO 8601 UTC time'),
    host: str(o, 'host', HOST_PATTERN, 'must be a host name'),
    owner: str(o, 'owner', USER_PATTERN, 'must be a user name'),
    name: str(o, 'name', VE_NAME_PATTERN, 'must be a VE name'),
    type,
    image: str(o, 'image', IMAGE_NAME_PATTERN, 'must be an image name'),
    vcpus: int(o, 'vcpus', 1, 4096),
    memoryMiB: int(o, 'memoryMiB', 1, 64 * 1024 * 1024),
    domain: str(o, 'domain', DOMAIN_PATTERN, 'must be a domain name'),
    source: source as EventSource,
    reason,
    ...(part === undefined || nodes === undefined ? {} : { part, nodes }),
    ...(nicList === undefined ? {} : { nics: nicList }),
    ...(cluster === undefined ? {} : { cluster }),
  };
}

// The spec's own cluster rule, its error turned into this decoder's invalid-event.
function decodeClusterRef(value: unknown): { name: string; role: string } {
  try {
    return validateClusterRef(value, 'cluster');
  } catch (err) {
    return fail('cluster', `must be {name, role} of a virtual cluster (${err instanceof Error ? err.message : String(err)})`, value);
  }
}
