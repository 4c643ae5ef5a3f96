// One way a VE's changes leave a host: the next seq of the part's own seq space and the event in the host's
// journal, always together; a state change (announceVeState) also marks what this host announced.
import { makeReadableDir } from './make-readable-dir.js';
import { findRecordJobDir, findVeJobFile, type VeJobRecord } from './ve-job-record.js';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { nextEventSeq } from '../events/next-event-seq.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { VeState } from '../core/ve-state.js';
import type { EventSource, VeEvent } from '../core/ve-event.js';

export interface RecordTransitionDeps {
  readonly events: EventSink;
  readonly clock: Clock;
  readonly config: PbsVeConfig;
}

/** what an event needs of a VE: a whole record, or the identity of a VE that failed before it had one */
export type VeIdentity = Pick<VeJobRecord, 'jobId' | 'spec' | 'owner' | 'host' | 'domain' | 'startCount' | 'part' | 'nodes' | 'nics'>;

// Events carry the whole VE description so the monitor never has to ask the host.
export async function emitVeEvent(deps: RecordTransitionDeps, record: VeIdentity, state: VeState, source: EventSource, reason: string): Promise<void> {
  // each part counts its own seqs (its own directory): the monitor folds parts separately
  const jobDir = findRecordJobDir(deps.config.stateDir, record);
  // the first event of a VE that failed before anything was made may create the job's directory
  makeReadableDir(deps.config.stateDir, jobDir);
  const seq = await nextEventSeq(jobDir, record.startCount);
  const event: VeEvent = {
    version: 1,
    jobId: record.jobId,
    seq,
    state,
    at: deps.clock.now().toISOString(),
    host: record.host,
    owner: record.owner,
    name: record.spec.name,
    type: record.spec.type,
    image: record.spec.image,
    vcpus: record.spec.vcpus,
    memoryMiB: record.spec.memoryMiB,
    domain: record.domain,
    source,
    reason: reason.slice(0, 256),
    ...(record.nodes !== undefined && record.nodes > 1 ? { part: record.part ?? 0, nodes: record.nodes } : {}),
    ...(record.nics === undefined ? {} : { nics: record.nics }),
    ...(record.spec.cluster === undefined ? {} : { cluster: { name: record.spec.cluster.name, role: record.spec.cluster.role } }),
  };
  await deps.events.emit([event]);
}

/**
 * A state change this host announced: the event, then the "reported" marker the periodic report compares
 * libvirt with (so it says only what changed). Not for events that are no state change (a DHCP address
 * of a VE that may be suspended): they would overwrite the last state announced.
 */
export async function announceVeState(deps: RecordTransitionDeps, record: VeIdentity, state: VeState, source: EventSource, reason: string): Promise<void> {
  await emitVeEvent(deps, record, state, source, reason);
  writeFileNoFollow(findVeJobFile(findRecordJobDir(deps.config.stateDir, record), 'reported'), `${state}\n`, { mode: 0o644 });
}

