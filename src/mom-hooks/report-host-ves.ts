import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findJobDir, readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { describeNicAddresses, findNicAddresses } from './find-nic-addresses.js';
import type { DhcpLease } from '../host/ve-networks.js';
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
  /** DHCP leases of one libvirt network; absent = addresses are not reported */
  readonly readLeases?: (uri: string, libvirtName: string) => Promise<DhcpLease[]>;
}

export interface HostReport extends HostVeFindings {
  readonly sent: number;
  readonly pending: number;
  /** VEs whose IP addresses changed (one running event each) */
  readonly addressChanges: number;
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
    const updated = { ...record, nics };
    writeVeJobRecord(deps.config.stateDir, updated);
    const reason = describeNicAddresses(nics);
    await emitVeEvent(deps, updated, 'running', 'mom-hook', reason);
    deps.log(`job ${record.jobId}: ${reason}`);
    changes += 1;
  }
  return changes;
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
    writeFileSync(join(findJobDir(deps.config.stateDir, change.record.jobId), 'reported'), `${change.state}\n`, { mode: 0o644 });
    deps.log(`job ${change.record.jobId}: domain ${change.record.domain} ${change.state} (${change.reason})`);
  }
  const stillRunning = new Set(domains.filter((d) => d.state === 'running').map((d) => d.name));
  for (const change of findings.changes) stillRunning.delete(change.record.domain);
  const addressChanges = await reportNicAddresses(records, stillRunning, deps);
  for (const orphan of findings.orphans) deps.log(`orphan domain ${orphan.name} (${orphan.state}): no VE job of this host claims it`);
  const { sent, pending } = await deps.events.flush();
  return { ...findings, sent, pending, addressChanges };
}
