// HostReport <-> the report attributes of a pbsveHost entry (pbsveOrphanDomain, pbsveReportedAt).
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import { ORPHAN_DOMAIN_PATTERN, ORPHAN_OUTCOMES, HOST_REPORT_KIND, type HostReport, type OrphanOutcome, type ReportedOrphan } from '../events/host-report.js';
import { formatGeneralizedTime } from './generalized-time.js';
import { badEntry, readLdapEntry } from './read-ldap-entry.js';
import type { LdapAttributes } from './attribute-change.js';

export const HOST_REPORT_ATTRIBUTES = ['pbsveHostName', 'pbsveOrphanDomain', 'pbsveReportedAt'];
const STATE_PATTERN = /^[a-z]{1,16}$/;
const ISO_PATTERN = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

// One orphan as one value: "<domain> <state> <firstSeen> <outcome>", each part a checked token.
export function formatOrphanValue(o: ReportedOrphan): string {
  if (!ORPHAN_DOMAIN_PATTERN.test(o.domain)) throw invalidField('orphans.domain', 'must be a pbsve-* domain name', o.domain);
  if (!STATE_PATTERN.test(o.state)) throw invalidField('orphans.state', 'must be a libvirt state word', o.state);
  if (!ISO_PATTERN.test(o.firstSeen)) throw invalidField('orphans.firstSeen', 'must be an ISO 8601 UTC time', o.firstSeen);
  if (!(ORPHAN_OUTCOMES as readonly string[]).includes(o.outcome)) throw invalidField('orphans.outcome', `must be one of ${ORPHAN_OUTCOMES.join(', ')}`, o.outcome);
  return `${o.domain} ${o.state} ${o.firstSeen} ${o.outcome}`;
}

// Values may come from ldapmodify: undefined for anything that is not four valid tokens.
export function parseOrphanValue(value: string): ReportedOrphan | undefined {
  const [domain, state, firstSeen, outcome, extra] = value.split(' ');
  if (domain === undefined || state === undefined || firstSeen === undefined || outcome === undefined || extra !== undefined) return undefined;
  if (!ORPHAN_DOMAIN_PATTERN.test(domain) || !STATE_PATTERN.test(state) || !ISO_PATTERN.test(firstSeen)) return undefined;
  if (!(ORPHAN_OUTCOMES as readonly string[]).includes(outcome)) return undefined;
  return { domain, state, firstSeen, outcome: outcome as OrphanOutcome };
}

/** The report's attributes; an empty orphan list removes every pbsveOrphanDomain value on replace. */
export function encodeHostReportAttributes(report: HostReport): LdapAttributes {
  return {
    pbsveOrphanDomain: report.orphans.map(formatOrphanValue),
    pbsveReportedAt: [formatGeneralizedTime(report.at, 'at')],
  };
}

/** A report with facts also fills the host entry itself: size, VE types, heartbeat; the host is up. */
export function encodeHostFactsAttributes(report: HostReport): LdapAttributes {
  if (report.facts === undefined) return {};
  return {
    pbsveState: ['up'],
    pbsveCpus: [String(report.facts.cpus)],
    pbsveMemoryMiB: [String(report.facts.memoryMiB)],
    pbsveHypervisorType: [...report.facts.types],
    pbsveLastHeartbeat: [formatGeneralizedTime(report.at, 'at')],
  };
}

/** undefined for a host entry that holds no report (never reported, or written by an operator only). */
export function decodeHostReportEntry(entry: Entry): HostReport | undefined {
  const r = readLdapEntry(entry);
  const at = r.optionalTime('pbsveReportedAt');
  if (at === undefined) return undefined;
  const orphans = r.strings('pbsveOrphanDomain').map((v) => {
    const o = parseOrphanValue(v);
    if (o === undefined) throw badEntry(r.dn, 'pbsveOrphanDomain', 'is not "<domain> <state> <firstSeen> <outcome>"', v);
    return o;
  }).sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return { kind: HOST_REPORT_KIND, version: 1, host: r.requireString('pbsveHostName'), at, orphans };
}
