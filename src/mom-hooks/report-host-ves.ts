import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRecordJobDir, readVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { emitVeEvent } from '../prologue/realize-ve.js';
import { findVeStateChanges, type HostVeFindings } from './find-ve-state-changes.js';
import { isVeState, type VeState } from '../core/ve-state.js';
import type { Virt, DomainInfo } from '../virt/virt.js';
import type { EventSink } from '../events/event-sink.js';
import type { Clock } from '../core/clock.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface ReportHostVesDeps {
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly openVirt: (uri: string) => Promise<Virt>;
  /** the URIs whose domains belong to this host (lxc and qemu) */
  readonly uris: readonly string[];
  readonly log: (line: string) => void;
}

export interface HostReport extends HostVeFindings {
  readonly sent: number;
  readonly pending: number;
}

// Only this host's realized VE jobs count; records of other hosts share the directory in sandboxes.
function readHostRecords(stateDir: string, host: string): VeJobRecord[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(stateDir, 'jobs'));
  } catch {
    return [];
  }
  // directory names are job ids, or <jobId>_p<i> for the parts of multi-node VEs
  return names.map((name) => { try { return readVeJobRecord(stateDir, name); } catch { return undefined; } })
    .filter((r): r is VeJobRecord => r?.host === host);
}

function readLastReported(stateDir: string, records: readonly VeJobRecord[]): Map<string, VeState> {
  const map = new Map<string, VeState>();
  for (const r of records) {
    try {
      const state = readFileSync(join(findRecordJobDir(stateDir, r), 'reported'), 'utf8').trim();
      if (isVeState(state)) map.set(r.jobId, state);
    } catch {
      // never reported by this hook: the prologue reported "running"
    }
  }
  return map;
}

/**
 * The periodic host hook: every state change of a local VE that nobody else saw (a crash, a poweroff
 * the job body has not acted on yet, a domain removed behind pbs-ve) becomes one event, and whatever
 * the journal still holds from earlier runs is sent again.
 */
export async function reportHostVes(host: string, deps: ReportHostVesDeps): Promise<HostReport> {
  const records = readHostRecords(deps.config.stateDir, host);
  const domains: DomainInfo[] = [];
  for (const uri of new Set(deps.uris)) {
    const virt = await deps.openVirt(uri);
    try {
      domains.push(...(await virt.listDomains()));
    } finally {
      await virt.close();
    }
  }
  const findings = findVeStateChanges(records, domains, readLastReported(deps.config.stateDir, records));
  for (const change of findings.changes) {
    await emitVeEvent(deps, change.record, change.state, 'mom-hook', change.reason);
    writeFileSync(join(findRecordJobDir(deps.config.stateDir, change.record), 'reported'), `${change.state}\n`, { mode: 0o644 });
    deps.log(`job ${change.record.jobId}: domain ${change.record.domain} ${change.state} (${change.reason})`);
  }
  for (const orphan of findings.orphans) deps.log(`orphan domain ${orphan.name} (${orphan.state}): no VE job of this host claims it`);
  const { sent, pending } = await deps.events.flush();
  return { ...findings, sent, pending };
}
