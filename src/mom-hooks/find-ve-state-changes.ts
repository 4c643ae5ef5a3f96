import { parseDomainName } from '../core/build-domain-name.js';
import type { DomainInfo } from '../virt/virt.js';
import type { VeJobRecord } from '../host/ve-job-record.js';
import type { VeState } from '../core/ve-state.js';

export interface VeStateChange {
  readonly record: VeJobRecord;
  readonly state: VeState;
  readonly reason: string;
}

export interface HostVeFindings {
  /** VEs whose domain no longer matches what this host last reported */
  readonly changes: readonly VeStateChange[];
  /** pbsve-* domains no VE record of this host claims (candidates: the batch system has the last word) */
  readonly orphans: readonly DomainInfo[];
}

// What libvirt shows, in the words LDAP uses, read with what the owner asked for (ve stop / ve suspend).
function classifyDomain(domain: DomainInfo | undefined, ownerState: VeJobRecord['ownerState']): { state: VeState; reason: string } {
  if (domain === undefined) return { state: 'failed', reason: 'domain disappeared behind pbs-ve' };
  switch (domain.state) {
    // not failed (final): the recovery in ve-host-report restarts it, and says failed itself if it gives up
    case 'crashed': return { state: 'stopped', reason: 'guest crashed' };
    case 'shutoff':
    case 'shutdown':
      if (ownerState === 'suspended') return { state: 'suspended', reason: 'saved to disk by its owner' };
      return { state: 'stopped', reason: ownerState === 'stopped' ? 'stopped by its owner' : 'guest powered off' };
    // a paused domain still holds its memory: suspended, whoever paused it, never stopped
    case 'paused':
    case 'pmsuspended': return { state: 'suspended', reason: ownerState === 'suspended' ? 'suspended by its owner' : `domain ${domain.state} behind pbs-ve` };
    default: return { state: 'running', reason: 'domain running' };
  }
}

/**
 * Pure: compares this host's realized VE jobs with libvirt's domain list. `lastReported` holds the state
 * each VE was last reported in (by the prologue or an earlier run), so a state is reported once.
 */
export function findVeStateChanges(records: readonly VeJobRecord[], domains: readonly DomainInfo[], lastReported: ReadonlyMap<string, VeState>): HostVeFindings {
  const byName = new Map(domains.map((d) => [d.name, d]));
  const changes: VeStateChange[] = [];
  const claimed = new Set<string>();
  for (const record of records) {
    // a prologue still starting the domain, or an epilogue taking it down, claims it too
    if (record.status === 'starting' || record.status === 'stopping') claimed.add(record.domain);
    if (record.status !== 'realized') continue;
    claimed.add(record.domain);
    const seen = classifyDomain(byName.get(record.domain), record.ownerState);
    if ((lastReported.get(record.jobId) ?? 'running') !== seen.state) changes.push({ record, ...seen });
  }
  const orphans = domains.filter((d) => parseDomainName(d.name) !== undefined && !claimed.has(d.name));
  return { changes, orphans };
}
