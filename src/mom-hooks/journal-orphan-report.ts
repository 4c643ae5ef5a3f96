// The host's orphan list travels to LDAP as a signed host report, but only when it changed.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { HOST_REPORT_KIND, MAX_REPORTED_ORPHANS, ORPHAN_DOMAIN_PATTERN, type HostReport, type ReportedOrphan } from '../events/host-report.js';
import type { HandledOrphan } from './handle-orphan-domains.js';
import type { EventSink } from '../events/event-sink.js';
import type { Clock } from '../core/clock.js';

export interface JournalOrphanReportDeps {
  readonly stateDir: string;
  readonly events: EventSink;
  readonly clock: Clock;
  readonly log: (line: string) => void;
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

// What makes a report new: the set of names and what the host did with each.
function buildReportKey(orphans: readonly ReportedOrphan[]): string {
  return orphans.map((o) => `${o.domain} ${o.outcome}\n`).sort().join('');
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
  const key = buildReportKey(orphans);
  const last = readLastKey(file);
  if (key === last) return undefined;
  if (deps.events.recordHostReport === undefined) return undefined;
  const report: HostReport = { kind: HOST_REPORT_KIND, version: 1, host, at: deps.clock.now().toISOString(), orphans };
  deps.events.recordHostReport(report);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o755 });
  writeFileNoFollow(file, key, { mode: 0o644 });
  deps.log(`host report journalled: ${orphans.length} orphan domain(s)`);
  return report;
}
