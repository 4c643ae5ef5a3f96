// The second kind of signed line: what one host reports of its orphan pbsve-* domains.
import { VeError } from '../core/ve-error.js';
import { HOST_NAME_PATTERN } from './host-key.js';
import { isVeType, type VeType } from '../core/ve-type.js';

export const HOST_REPORT_KIND = 'host-report';
// 32 orphans of the longest names still fit the 8192-char signed payload
export const MAX_REPORTED_ORPHANS = 32;
export const ORPHAN_OUTCOMES = ['kept', 'destroyed', 'destroy-failed'] as const;
export type OrphanOutcome = (typeof ORPHAN_OUTCOMES)[number];

/** A domain name as only pbs-ve makes them (63 chars at most, as in events): one token, safe in a space-separated LDAP value. */
export const ORPHAN_DOMAIN_PATTERN = /^pbsve-[A-Za-z0-9_.-]{1,57}$/;
const DOMAIN_STATE_PATTERN = /^[a-z]{1,16}$/;
const ISO_PATTERN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

export interface ReportedOrphan {
  readonly domain: string;
  /** libvirt state word (running, shutoff ...) */
  readonly state: string;
  /** ISO 8601 UTC: when the host first saw it as an orphan */
  readonly firstSeen: string;
  /** what the host did in the run that made the report */
  readonly outcome: OrphanOutcome;
}

/** What a host says of itself: its host entry in LDAP (`ve host list`); the batch system's view comes beside it. */
export interface HostFacts {
  readonly cpus: number;
  readonly memoryMiB: number;
  /** the VE types this host's configuration can run */
  readonly types: readonly VeType[];
}

export interface HostReport {
  readonly kind: typeof HOST_REPORT_KIND;
  readonly version: 1;
  readonly host: string;
  /** ISO 8601 UTC: when the host made the report; a stored report is replaced only by a later one */
  readonly at: string;
  /** every orphan the host has now; empty: none any more */
  readonly orphans: readonly ReportedOrphan[];
  /** absent in reports of older hosts (orphans only); a monitor that does not know it ignores it */
  readonly facts?: HostFacts;
}

/** bounds of a host's own numbers: beyond them a report is refused, not stored */
const MAX_HOST_CPUS = 1_000_000;
const MAX_HOST_MEMORY_MIB = 1024 * 1024 * 1024;

/** Same line format as events: base64url JSON, one line of [A-Za-z0-9_-]. */
export function encodeHostReport(report: HostReport): string {
  return Buffer.from(JSON.stringify(report), 'utf8').toString('base64url');
}

function fail(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-host-report', 'prereq', `host report ${field}: ${rule} (got ${JSON.stringify(got)?.slice(0, 80) ?? 'nothing'})`, { field });
}

function str(o: Record<string, unknown>, field: string, pattern: RegExp, rule: string): string {
  const v = o[field];
  if (typeof v !== 'string' || !pattern.test(v)) fail(field, rule, v);
  return v;
}

// Each orphan reaches LDAP as "<domain> <state> <firstSeen> <outcome>": every part one strict token.
function decodeOrphan(item: unknown, i: number): ReportedOrphan {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) fail(`orphans[${i}]`, 'must be an object', item);
  const o = item as Record<string, unknown>;
  const outcome = o['outcome'];
  if (typeof outcome !== 'string' || !(ORPHAN_OUTCOMES as readonly string[]).includes(outcome)) fail(`orphans[${i}].outcome`, `must be one of ${ORPHAN_OUTCOMES.join(', ')}`, outcome);
  return {
    domain: str(o, 'domain', ORPHAN_DOMAIN_PATTERN, 'must be a pbsve-* domain name'),
    state: str(o, 'state', DOMAIN_STATE_PATTERN, 'must be a libvirt state word'),
    firstSeen: str(o, 'firstSeen', ISO_PATTERN, 'must be an ISO 8601 UTC time'),
    outcome: outcome as OrphanOutcome,
  };
}

// Every number bounded, every type one pbs-ve knows: the facts come from root on the host, still checked.
function decodeFacts(v: unknown): HostFacts {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('facts', 'must be an object', v);
  const o = v as Record<string, unknown>;
  const count = (field: string, max: number): number => {
    const n = o[field];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > max) fail(`facts.${field}`, `must be a whole number from 0 to ${max}`, n);
    return n;
  };
  const types = o['types'];
  if (!Array.isArray(types) || types.length > 2 || !types.every((x): x is VeType => typeof x === 'string' && isVeType(x))) fail('facts.types', 'must be a list of kvm and lxc', types);
  return { cpus: count('cpus', MAX_HOST_CPUS), memoryMiB: count('memoryMiB', MAX_HOST_MEMORY_MIB), types: [...new Set(types)] };
}

/** The decoded payload object of a host report: every field checked before it can reach LDAP. */
export function decodeHostReportObject(o: Record<string, unknown>): HostReport {
  if (o['kind'] !== HOST_REPORT_KIND) fail('kind', `must be ${HOST_REPORT_KIND}`, o['kind']);
  if (o['version'] !== 1) fail('version', 'must be 1', o['version']);
  const list = o['orphans'];
  if (!Array.isArray(list) || list.length > MAX_REPORTED_ORPHANS) fail('orphans', `must be a list of at most ${MAX_REPORTED_ORPHANS} orphans`, list);
  const orphans = list.map(decodeOrphan);
  if (new Set(orphans.map((x) => x.domain)).size !== orphans.length) fail('orphans', 'must name each domain once', orphans.map((x) => x.domain));
  return {
    kind: HOST_REPORT_KIND,
    version: 1,
    host: str(o, 'host', HOST_NAME_PATTERN, 'must be a host name'),
    at: str(o, 'at', ISO_PATTERN, 'must be an ISO 8601 UTC time'),
    orphans,
    ...(o['facts'] === undefined ? {} : { facts: decodeFacts(o['facts']) }),
  };
}

// Type guard for code that handles both kinds of signed line.
export function isHostReport(value: unknown): value is HostReport {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === HOST_REPORT_KIND;
}
