// The host's orphan list and its own facts travel to LDAP as a signed host report: when they changed,
// and once an hour as the host's heartbeat (its entry in `ve host list`).
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { HOST_REPORT_KIND, MAX_REPORTED_ORPHANS, ORPHAN_DOMAIN_PATTERN, type HostFacts, type HostReport, type ReportedOrphan } from '../events/host-report.js';
import { VE_TYPES } from '../core/ve-type.js';
import type { HandledOrphan } from './handle-orphan-domains.js';
import type { EventSink } from '../events/event-sink.js';
import type { Clock } from '../core/clock.js';

export interface JournalOrphanReportDeps {
  readonly stateDir: string;
  readonly events: EventSink;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** what the host says of itself; default: this machine's cpus and memory; undefined: orphans only (a quiet host stays quiet) */
  readonly facts?: HostFacts | undefined;
  /** a host whose report did not change still reports this often (its heartbeat); default 1 h */
  readonly heartbeatMs?: number;
}

const HEARTBEAT_MS = 3_600_000;

// The machine as the kernel sees it; the batch system's own view (what it schedules) is shown beside it.
export function readHostFacts(): HostFacts {
  return { cpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / (1024 * 1024)), types: [...VE_TYPES] };
}

// <stateDir>/host/<host>-orphan-report: the last journalled list, as "<domain> <outcome>" lines.
function lastReportPath(stateDir: string, host: string): string {
  return join(stateDir, 'host', `${host}-orphan-report`);
}

// A missing file counts as "never reported": a quiet host that never had an orphan stays quiet.
function readLastKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

// What makes a report new: the set of names and what the host did with each, and the host's facts.
function buildReportKey(orphans: readonly ReportedOrphan[], facts: HostFacts | undefined): string {
  const factsLine = facts === undefined ? '' : `facts ${facts.cpus} ${facts.memoryMiB} ${facts.types.join(',')}\n`;
  return orphans.map((o) => `${o.domain} ${o.outcome}\n`).sort().join('') + factsLine;
}

// The file holds the key, then "at <ms>" of the report; a file of an older version has no "at" line.
function splitLastReport(text: string): { key: string; atMs: number } {
  const match = /(?:^|\n)at ([0-9]{1,15})\n$/.exec(text);
  return match?.[1] === undefined ? { key: text, atMs: 0 } : { key: text.slice(0, match.index + (match[0].startsWith('\n') ? 1 : 0)), atMs: Number(match[1]) };
}

/**
 * Journals a host report (sent with this run's flush) when the orphan set or an outcome changed since
 * the last one, including becoming empty; returns it, or undefined when nothing changed. A name that
 * pbs-ve could not have made (not [A-Za-z0-9_.-]) stays in the hook's log only.
 */
export function journalOrphanReport(host: string, handled: readonly HandledOrphan[], deps: JournalOrphanReportDeps): HostReport | undefined {
  const orphans: ReportedOrphan[] = [];
  for (const o of handled) {
    if (!ORPHAN_DOMAIN_PATTERN.test(o.domain) || orphans.length >= MAX_REPORTED_ORPHANS) {
      deps.log(`orphan domain ${JSON.stringify(o.domain)}: not in the host report (odd name or more than ${MAX_REPORTED_ORPHANS} orphans)`);
      continue;
    }
    orphans.push({ domain: o.domain, state: /^[a-z]{1,16}$/.test(o.state) ? o.state : 'nostate', firstSeen: o.firstSeen, outcome: o.outcome });
  }
  const file = lastReportPath(deps.stateDir, host);
  const facts = 'facts' in deps ? deps.facts : readHostFacts();
  const key = buildReportKey(orphans, facts);
  const last = splitLastReport(readLastKey(file));
  const now = deps.clock.now();
  const heartbeatDue = facts !== undefined && now.getTime() - last.atMs >= (deps.heartbeatMs ?? HEARTBEAT_MS);
  if (key === last.key && !heartbeatDue) return undefined;
  if (deps.events.recordHostReport === undefined) return undefined;
  const report: HostReport = { kind: HOST_REPORT_KIND, version: 1, host, at: now.toISOString(), orphans, ...(facts === undefined ? {} : { facts }) };
  deps.events.recordHostReport(report);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o755 });
  writeFileNoFollow(file, `${key}at ${now.getTime()}\n`, { mode: 0o644 });
  deps.log(`host report journalled: ${orphans.length} orphan domain(s)`);
  return report;
}
