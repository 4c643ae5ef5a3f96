// The second kind of signed line: what one host reports of its orphan pbsve-* domains.
import { VeError } from '../core/ve-error.js';
import { HOST_NAME_PATTERN } from './host-key.js';

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

export interface HostReport {
  readonly kind: typeof HOST_REPORT_KIND;
  readonly version: 1;
  readonly host: string;
  /** ISO 8601 UTC: when the host made the report; a stored report is replaced only by a later one */
  readonly at: string;
  /** every orphan the host has now; empty: none any more */
  readonly orphans: readonly ReportedOrphan[];
}

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
  };
}

// Type guard for code that handles both kinds of signed line.
export function isHostReport(value: unknown): value is HostReport {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === HOST_REPORT_KIND;
}
