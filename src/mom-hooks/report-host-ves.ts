import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findVeJobFile, withVeJobLock, findRecordJobDir, readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { formatPartSuffix } from '../core/build-domain-name.js';
import { describeNicAddresses, findNicAddresses } from './find-nic-addresses.js';
import type { DhcpLease } from '../host/ve-networks.js';
import { announceVeState, emitVeEvent } from '../host/record-ve-transition.js';
import { findVeStateChanges, type HostVeFindings } from './find-ve-state-changes.js';
import { dropUnvouchedChanges } from './drop-unvouched-changes.js';
import { isVeState, type VeState } from '../core/ve-state.js';
import { recoverCrashedVes, type RecoverCrashedVesDeps, type RecoveryStep } from './recover-crashed-ves.js';
import { handleOrphanDomains, type HandleOrphanDomainsDeps, type HandledOrphan } from './handle-orphan-domains.js';
import { journalOrphanReport } from './journal-orphan-report.js';
import type { HostReport as SignedHostReport } from '../events/host-report.js';
import { restoreConsoleOwnership } from '../host/restore-console-ownership.js';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import type { Virt, DomainInfo } from '../virt/virt.js';
import type { EventSink } from '../events/event-sink.js';
import type { Clock } from '../core/clock.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { Batch } from '../batch/batch.js';
import { removeOldJobDirs } from './remove-old-job-dirs.js';

export interface ReportHostVesDeps {
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly openVirt: (uri: string) => Promise<Virt>;
  /** the URIs whose domains belong to this host (lxc and qemu) */
  readonly uris: readonly string[];
  readonly log: (line: string) => void;
  /** crashed VEs are recovered only with these (root, batch system reachable); else only reported */
  readonly recovery?: Omit<RecoverCrashedVesDeps, 'config' | 'clock' | 'events' | 'openVirt' | 'log'>;
  /** owner ids for the console logs (default: getent) */
  readonly findOwner?: (user: string) => Promise<UserIds>;
  /** orphan domains are destroyed after the grace only with these; else only reported */
  readonly orphans?: Omit<HandleOrphanDomainsDeps, 'stateDir' | 'openVirt' | 'clock' | 'log'>;
  /** DHCP leases of one libvirt network; absent = addresses are not reported */
  readonly readLeases?: (uri: string, libvirtName: string) => Promise<DhcpLease[]>;
  /** teardowns an epilogue began and could not finish (libvirtd down) are finished with these; absent = left */
  readonly interrupted?: {
    readonly batch: Pick<Batch, 'getJob'>;
    /** the epilogue's teardown of this host's part of the record's job (destroy, undefine, disks, destroyed event) */
    readonly teardown: (record: VeJobRecord) => Promise<void>;
  };
  /** destroyed VEs' job directories are removed this long after their last change; absent = kept */
  readonly jobDirKeepMs?: number;
}

export interface HostReport extends HostVeFindings {
  readonly sent: number;
  readonly pending: number;
  readonly recovery: readonly RecoveryStep[];
  readonly handledOrphans: readonly HandledOrphan[];
  /** VEs whose IP addresses changed (one running event each) */
  readonly addressChanges: number;
  /** jobs whose interrupted teardown (epilogue met a dead libvirtd) this run finished */
  readonly teardowns: readonly string[];
  /** job directories removed this run (VE destroyed, kept past recovery.jobDirKeepSeconds) */
  readonly removedJobDirs: readonly string[];
  /** the orphan report journalled (and sent) this run: only when the orphan set changed */
  readonly orphanReport?: SignedHostReport;
}

// A running VE whose guest got (or changed) a DHCP lease is reported once per change, as a
// "running" event carrying the NICs, so LDAP and `ve show` learn the IP.
async function reportNicAddresses(records: readonly VeJobRecord[], running: ReadonlySet<string>, deps: ReportHostVesDeps): Promise<number> {
  const readLeases = deps.readLeases;
  if (readLeases === undefined) return 0;
  const cache = new Map<string, Promise<DhcpLease[]>>();
  let changes = 0;
  for (const record of records) {
    if (record.status !== 'realized' || !running.has(record.domain) || record.nics === undefined || record.networks === undefined) continue;
    const names = record.networks.map((n) => n.libvirtName);
    const leases = new Map<string, DhcpLease[]>();
    for (const name of new Set(names)) {
      const key = `${record.uri}\0${name}`;
      if (!cache.has(key)) cache.set(key, readLeases(record.uri, name).catch(() => []));
      leases.set(name, await (cache.get(key) ?? Promise.resolve([])));
    }
    const nics = findNicAddresses(record.nics, names, leases);
    if (nics === undefined) continue;
    // under the op lock, re-read: the epilogue or a recovery may have moved the record on meanwhile
    const dir = findRecordJobDir(deps.config.stateDir, record);
    const updated = await withVeJobLock(dir, 'report', () => {
      const current = readVeJobRecord(deps.config.stateDir, `${record.jobId}${formatPartSuffix(record.part ?? 0)}`);
      if (current?.status !== 'realized' || current.domain !== record.domain) return undefined;
      const next = { ...current, nics };
      writeVeJobRecord(deps.config.stateDir, next);
      return next;
    }).catch((err: unknown) => { deps.log(`job ${record.jobId}: addresses not recorded this run: ${err instanceof Error ? err.message : String(err)}`); return undefined; });
    if (updated === undefined) continue;
    const reason = describeNicAddresses(nics);
    await emitVeEvent(deps, updated, 'running', 'mom-hook', reason);
    deps.log(`job ${record.jobId}: ${reason}`);
    changes += 1;
  }
  return changes;
}

const JOB_ON_HOST: ReadonlySet<string> = new Set(['running', 'exiting']);

/**
 * An epilogue that met a dead libvirtd left its record "stopping" and the domain running with no job.
 * Once libvirtd answers and the batch system says the job no longer runs, the teardown is finished here:
 * the domain really goes, and only then is the VE reported destroyed (by the teardown's own event).
 */
async function finishInterruptedTeardowns(records: readonly VeJobRecord[], listed: boolean, deps: ReportHostVesDeps): Promise<string[]> {
  const interrupted = deps.interrupted;
  if (!listed || interrupted === undefined) return [];
  const finished: string[] = [];
  for (const record of records.filter((r) => r.status === 'stopping')) {
    try {
      const job = await interrupted.batch.getJob(record.jobId);
      // its epilogue may still be running; a VE moved away (ve migrate) runs on its new host meanwhile
      const movedAway = record.migration !== undefined && job !== undefined && !job.execHosts.includes(record.host);
      if (job !== undefined && JOB_ON_HOST.has(job.state) && !movedAway) continue;
      await interrupted.teardown(record);
      finished.push(record.jobId);
      deps.log(`job ${record.jobId}: interrupted teardown finished: domain ${record.domain} destroyed`);
    } catch (err) {
      deps.log(`job ${record.jobId}: interrupted teardown not finished this run: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return finished;
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
      const state = readFileSync(findVeJobFile(findRecordJobDir(stateDir, r), 'reported'), 'utf8').trim();
      if (isVeState(state)) map.set(r.jobId, state);
    } catch {
      // never reported by this hook: the prologue reported "running"
    }
  }
  return map;
}

// Every domain of this host with the connection that shows it (orphans are destroyed through it);
// listed false when a libvirtd did not answer: then nothing may be judged from the list.
async function listHostDomains(deps: ReportHostVesDeps): Promise<{ domains: DomainInfo[]; uriOf: Map<string, string>; listed: boolean }> {
  const domains: DomainInfo[] = [];
  const uriOf = new Map<string, string>();
  for (const uri of new Set(deps.uris)) {
    try {
      const virt = await deps.openVirt(uri);
      try {
        for (const d of await virt.listDomains()) {
          domains.push(d);
          uriOf.set(d.name, uri);
        }
      } finally {
        await virt.close().catch(() => undefined);
      }
    } catch (err) {
      // libvirtd down is not "domain gone": judge nothing, but still send what the journal holds
      deps.log(`libvirt at ${uri} not answering (${(err as Error).message}): no VE state judged this run; journalled events are still sent`);
      return { domains: [], uriOf: new Map(), listed: false };
    }
  }
  return { domains, uriOf, listed: true };
}

// After virtlogd rotated a QEMU console log the new file is root's: the owner gets it back here.
async function restoreConsoles(records: readonly VeJobRecord[], deps: ReportHostVesDeps): Promise<void> {
  const ids = new Map<string, Promise<UserIds>>();
  for (const record of records.filter((r) => r.status === 'realized')) {
    try {
      let owner = ids.get(record.owner);
      if (owner === undefined) {
        owner = (deps.findOwner ?? findUserIds)(record.owner);
        ids.set(record.owner, owner);
      }
      const fixed = await restoreConsoleOwnership(findRecordJobDir(deps.config.stateDir, record), await owner);
      if (fixed.length > 0) deps.log(`job ${record.jobId}: console log(s) ${fixed.join(', ')} given back to ${record.owner}`);
    } catch (err) {
      deps.log(`job ${record.jobId}: console log ownership not restored: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/**
 * The periodic host hook: crashed VEs are recovered (restart, rollback, give up: recover-crashed-ves),
 * every other state change of a local VE that nobody else saw (a poweroff the job body has not acted on
 * yet, a domain removed behind pbs-ve) becomes one event, orphan domains are reported and, after their
 * grace, destroyed, and whatever the journal still holds from earlier runs is sent again. With a
 * libvirtd not answering, only the journal is sent.
 */
export async function reportHostVes(host: string, deps: ReportHostVesDeps): Promise<HostReport> {
  let records = readHostRecords(deps.config.stateDir, host);
  let { domains, uriOf, listed } = await listHostDomains(deps);
  const teardowns = await finishInterruptedTeardowns(records, listed, deps);
  if (teardowns.length > 0) {
    records = readHostRecords(deps.config.stateDir, host);
    ({ domains, uriOf, listed } = await listHostDomains(deps));
  }
  let recovery: RecoveryStep[] = [];
  if (listed && deps.recovery !== undefined) {
    recovery = await recoverCrashedVes(host, records, domains, { ...deps.recovery, config: deps.config, clock: deps.clock, events: deps.events, openVirt: deps.openVirt, log: deps.log });
    // what the recovery changed (domains running again, VEs given up) is not a change to report again
    if (recovery.some((s) => s.action !== 'skipped')) {
      records = readHostRecords(deps.config.stateDir, host);
      ({ domains, uriOf, listed } = await listHostDomains(deps));
    }
  }
  const all = listed ? findVeStateChanges(records, domains, readLastReported(deps.config.stateDir, records)) : { changes: [], orphans: [] };
  // a recovery that failed this run is tried again on the next: its VE is not "powered off"
  const retrying = new Set(recovery.filter((s) => s.action === 'error').map((s) => s.jobId));
  const changes = await dropUnvouchedChanges(all.changes.filter((c) => !retrying.has(c.record.jobId)), uriOf, deps.openVirt, deps.log);
  const findings = { ...all, changes };
  // every change of this run is journalled first and all go out in the one flush below: one vemon job
  const sink = deps.events;
  const recordOnly: EventSink = {
    emit: (e) => sink.record(e), record: (e) => sink.record(e), flush: () => sink.flush(),
    recordHostReport: (r) => { sink.recordHostReport(r); }, confirmSent: () => sink.confirmSent(),
  };
  for (const change of changes) {
    await announceVeState({ ...deps, events: recordOnly }, change.record, change.state, 'mom-hook', change.reason);
    deps.log(`job ${change.record.jobId}: domain ${change.record.domain} ${change.state} (${change.reason})`);
  }
  const stillRunning = new Set(domains.filter((d) => d.state === 'running').map((d) => d.name));
  for (const change of changes) stillRunning.delete(change.record.domain);
  const addressChanges = await reportNicAddresses(records, stillRunning, { ...deps, events: recordOnly });
  let handledOrphans: HandledOrphan[] = [];
  let orphanReport: SignedHostReport | undefined;
  if (deps.orphans !== undefined) {
    const candidates = findings.orphans.flatMap((d) => { const uri = uriOf.get(d.name); return uri === undefined ? [] : [{ domain: d, uri }]; });
    handledOrphans = await handleOrphanDomains(host, candidates, { ...deps.orphans, stateDir: deps.config.stateDir, openVirt: deps.openVirt, clock: deps.clock, log: deps.log });
    // with a libvirtd not answering the list is not known: no report says "none" then
    if (listed) orphanReport = journalOrphanReport(host, handledOrphans, { stateDir: deps.config.stateDir, events: deps.events, clock: deps.clock, log: deps.log });
  } else {
    for (const orphan of findings.orphans) deps.log(`orphan domain ${orphan.name} (${orphan.state}): no VE job of this host claims it`);
  }
  await restoreConsoles(records, deps);
  // vemon jobs that ended without delivering (no shell, deleted, lost) get their events out again
  await deps.events.confirmSent?.().catch((err: unknown) => { deps.log(`pbs-ve: delivery of sent events not checked: ${(err as Error).message}`); });
  const { sent, pending } = await deps.events.flush();
  // with libvirtd silent nothing is known to be gone: directories are removed only on a full listing
  const removedJobDirs = listed && deps.jobDirKeepMs !== undefined
    ? removeOldJobDirs({ stateDir: deps.config.stateDir, host, domains: new Set(domains.map((d) => d.name)), keepMs: deps.jobDirKeepMs, now: deps.clock.now() })
    : [];
  if (removedJobDirs.length > 0) deps.log(`job directories removed (VE gone, kept ${Math.round((deps.jobDirKeepMs ?? 0) / 1000)} s): ${removedJobDirs.join(' ')}`);
  return { ...findings, sent, pending, recovery, handledOrphans, addressChanges, teardowns, removedJobDirs, ...(orphanReport === undefined ? {} : { orphanReport }) };
}
