import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findJobDir, readVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { emitVeEvent } from '../prologue/realize-ve.js';
import { findVeStateChanges, type HostVeFindings } from './find-ve-state-changes.js';
import { dropUnvouchedChanges } from './drop-unvouched-changes.js';
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
  return names.map((jobId) => { try { return readVeJobRecord(stateDir, jobId); } catch { return undefined; } })
    .filter((r): r is VeJobRecord => r?.host === host);
}

function readLastReported(stateDir: string, records: readonly VeJobRecord[]): Map<string, VeState> {
  const map = new Map<string, VeState>();
  for (const r of records) {
    try {
      const state = readFileSync(join(findJobDir(stateDir, r.jobId), 'reported'), 'utf8').trim();
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
  const domainUris = new Map<string, string>();
  let listed = true;
  for (const uri of new Set(deps.uris)) {
    try {
      const virt = await deps.openVirt(uri);
      try {
        for (const d of await virt.listDomains()) {
          domains.push(d);
          domainUris.set(d.name, uri);
        }
      } finally {
        await virt.close().catch(() => undefined);
      }
    } catch (err) {
      // libvirtd down is not "domain gone": judge nothing, but still send what the journal holds
      listed = false;
      deps.log(`libvirt at ${uri} not answering (${(err as Error).message}): no VE state judged this run; journalled events are still sent`);
      break;
    }
  }
  const findings = listed ? findVeStateChanges(records, domains, readLastReported(deps.config.stateDir, records)) : { changes: [], orphans: [] };
  const changes = await dropUnvouchedChanges(findings.changes, domainUris, deps.openVirt, deps.log);
  // every change of this run is journalled first and all go out in the one flush below: one vemon job
  const recordOnly: EventSink = { emit: (e) => deps.events.record?.(e) ?? deps.events.emit(e), flush: () => deps.events.flush() };
  for (const change of changes) {
    await emitVeEvent({ ...deps, events: recordOnly }, change.record, change.state, 'mom-hook', change.reason);
    writeFileSync(join(findJobDir(deps.config.stateDir, change.record.jobId), 'reported'), `${change.state}\n`, { mode: 0o644 });
    deps.log(`job ${change.record.jobId}: domain ${change.record.domain} ${change.state} (${change.reason})`);
  }
  for (const orphan of findings.orphans) deps.log(`orphan domain ${orphan.name} (${orphan.state}): no VE job of this host claims it`);
  const { sent, pending } = await deps.events.flush();
  return { ...findings, changes, sent, pending };
}
