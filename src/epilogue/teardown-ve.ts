import { withVeJobLock, readHostVeJobRecord, findRecordJobDir, removeJobBodyChannel, writeVeJobRecord } from '../host/ve-job-record.js';
import { emitVeEvent } from '../host/record-ve-transition.js';
import type { BatchJob, PelogContext } from '../batch/batch.js';
import { markVeJobEnding } from '../host/ve-job-ending.js';
import type { Virt, DomainState } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { VeDisks } from '../host/ve-disks.js';
import { join } from 'node:path';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import type { VeJobRecord } from '../host/ve-job-record.js';
import { removeVeSnapshots } from '../host/ve-snapshots.js';
import { removeVeSeed } from '../host/ve-seed.js';
import { createVeNetworks, type VeNetworks } from '../host/ve-networks.js';
import { createLxcIdRanges, type LxcIdRanges } from '../host/lxc-id-ranges.js';

export interface TeardownVeDeps {
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly disks: VeDisks;
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly log: (line: string) => void;
  /** default: the owner's ids from getent */
  readonly findOwner?: (user: string) => Promise<UserIds>;
  /** default: transient libvirt networks through virsh, state in <stateDir>/networks */
  readonly networks?: VeNetworks;
  /** the batch system's view of the job, asked only when the host cannot tell how it ended (a sister, Slurm) */
  readonly readJob?: (jobId: string) => Promise<BatchJob | undefined>;
  /** LXC user namespaces; default: slots under <stateDir>/lxc-ids */
  readonly lxcIds?: LxcIdRanges;
}

export type TeardownOutcome =
  | { readonly kind: 'not-a-ve' }
  /** a prologue still running for the job stopped and undid its VE itself (qdel during the prologue) */
  | { readonly kind: 'already-gone'; readonly domain: string; readonly reason: string }
  | { readonly kind: 'destroyed'; readonly domain: string; readonly reason: string; readonly ms: number }
  /** ve migrate live: the job was requeued to the destination, whose prologue takes the running domain over */
  | { readonly kind: 'moving'; readonly domain: string; readonly reason: string };

/** TORQUE's exit_status for a job deleted by qdel (observed in the fixtures: 271 = killed by SIGTERM). */
const TORQUE_QDEL_EXIT = 271;
/** TORQUE's exit_status when the MOM killed the job at its walltime (JOB_EXEC_OVERLIMIT_WT in the 6.1 source). */
const TORQUE_WALLTIME_EXIT = -11;

/** What a host knows about how its VE's job ended. */
export interface JobEndEvidence {
  readonly domainState: DomainState | undefined;
  /** the exit status the hook was given (TORQUE $10: a sister's is 0 whatever happened) */
  readonly exitStatus: number | undefined;
  /** false on the job's first host; sisters do not see the job's exit status */
  readonly sister: boolean;
  /** the job ran as long as its walltime (the lease) */
  readonly leaseOver: boolean;
  /** the batch system's word, when asked: Slurm CANCELLED / TIMEOUT */
  readonly endCause: 'cancelled' | 'lease-expired' | undefined;
  /** how many parts the VE has (1 for single-node VEs) */
  readonly parts: number;
}

// Users read this in `ve show`: say how the VE ended in their words, not the batch system's.
export function describeJobEnd(e: JobEndEvidence): string {
  if (e.domainState === 'shutoff' || e.domainState === 'shutdown' || e.domainState === undefined) return 'guest powered off or domain gone';
  if (e.domainState === 'crashed') return 'guest crashed';
  if (e.endCause === 'cancelled' || (!e.sister && e.exitStatus === TORQUE_QDEL_EXIT)) return 'job deleted (qdel/scancel) by its owner or an admin';
  if (e.endCause === 'lease-expired' || e.leaseOver || (!e.sister && e.exitStatus === TORQUE_WALLTIME_EXIT)) return 'lease expired (the job reached its walltime)';
  // TORQUE tells a sister nothing more: the mother superior ended the job and its epilogue's event says why
  if (e.sister) return 'ended with the VE\'s first part: deleted there, or a part of the VE stopped (the first part\'s history says which)';
  // the job body ends a multi-node VE's job with 0 when another part stopped; Slurm's Epilog also sees 0 after scancel
  if (e.exitStatus === 0 && e.parts > 1) return 'job ended while this part ran: another part stopped, or the job was cancelled (the batch system did not say which)';
  if (e.exitStatus !== undefined) return `job ended (exit status ${e.exitStatus})`;
  return 'job ended';
}

// The lease is the walltime: reached (a few seconds of the batch daemon's polling aside) means it expired.
export function isLeaseOver(usedSeconds: number | undefined, walltimeSeconds: number | undefined): boolean {
  return usedSeconds !== undefined && walltimeSeconds !== undefined && usedSeconds >= walltimeSeconds - 5;
}

/**
 * The epilogue: whatever ended the job (qdel/scancel, lease expiry, guest poweroff), the domain is
 * destroyed and undefined and the per-VE disk removed. Jobs this host never realized pass untouched.
 * A prologue of the job that still runs here (TORQUE starts the epilogue of a job deleted during its
 * prologue at once) is told first, then waited for: it stops and undoes what it made, so a cancelled VE
 * ends destroyed with no domain left, never failed with a libvirt error, and never as an orphan.
 */
export async function teardownVe(ctx: PelogContext, deps: TeardownVeDeps): Promise<TeardownOutcome> {
  const started = Date.now();
  markVeJobEnding(deps.config.stateDir, ctx.jobId, ctx.host, deps.clock.now());
  // each host tears down only the part it realized (a multi-node VE's other parts are their hosts' business)
  const found = readHostVeJobRecord(deps.config.stateDir, ctx.jobId, ctx.host);
  // a record another host wrote (a requeued VE now running elsewhere, with shared state) is not ours to end
  if (found === undefined || found.uri === '' || found.host !== ctx.host) return { kind: 'not-a-ve' };
  // re-read under the lock: the prologue may have stopped (destroyed), the recovery given up (failed)
  const record = await markStopping(found, deps);
  if (record.status === 'destroyed') return { kind: 'already-gone', domain: record.domain, reason: record.reason };
  // ve migrate: this end of the job is the move, not the VE's end; the destination reports what happens next
  const moving = record.migration?.from === ctx.host ? record.migration : undefined;
  if (moving?.live === true && await isDomainStillHere(record, deps)) {
    deps.log(`job ${record.jobId}: requeued to ${moving.to} for a live migration; ${record.domain} stays until it has moved (the host report clears what is left)`);
    return { kind: 'moving', domain: record.domain, reason: `moving to ${moving.to} (live)` };
  }
  const failed = record.status === 'failed';
  const virt = await deps.openVirt(record.uri);
  let domainState: DomainState | undefined;
  let endCause: Promise<JobEndEvidence['endCause']> = Promise.resolve(undefined);
  try {
    domainState = (await virt.getDomain(record.domain))?.state;
    // asked while libvirt destroys (it never rejects): on Slurm it is one batch-system call, ~0.1 s the
    // destroyed event waited for after the domain was gone
    if (moving === undefined) endCause = readEndCause(ctx, deps, domainState);
    await virt.destroyDomain(record.domain);
    // libvirt refuses to undefine a domain that still has snapshots; their data goes with the disks below
    await removeVeSnapshots(record, deps.config.stateDir);
    await virt.undefineDomain(record.domain);
  } finally {
    await virt.close();
  }
  let reason = moving !== undefined ? `moved to ${moving.to} (cold migration: its files went with it)` : describeJobEnd({
    domainState, exitStatus: ctx.exitStatus, sister: ctx.sister, parts: record.nodes ?? 1,
    leaseOver: isLeaseOver(ctx.usedWalltimeSeconds, ctx.resources?.walltimeSeconds ?? record.spec.leaseSeconds),
    endCause: await endCause,
  });
  // a private network goes with its last VE; a failure here is logged, not a host fault to drain for
  if (record.networks !== undefined && record.networks.length > 0) {
    const networks = deps.networks ?? createVeNetworks({ stateDir: deps.config.stateDir, log: deps.log });
    await networks.release(record.uri, record.jobId, record.networks)
      .then((gone) => { if (gone.length > 0) deps.log(`job ${record.jobId}: networks removed with their last VE: ${gone.join(' ')}`); })
      .catch((err: unknown) => { deps.log(`pbs-ve: job ${record.jobId}: releasing networks: ${err instanceof Error ? err.message : String(err)}`); });
  }
  const jobDir = findRecordJobDir(deps.config.stateDir, record);
  const kept = record.spec.keepDisks === true && moving === undefined ? await keepDataDisks(record, jobDir, deps) : undefined;
  if (kept?.kind === 'kept') reason = `${reason}; data disks kept in ${kept.dir}`;
  if (kept?.kind === 'failed') reason = `${reason}; keeping the data disks failed, they stay in ${jobDir}`;
  else await deps.disks.remove(jobDir);
  // the ids go back to the pool only once no file of the container carries them
  if (record.spec.type === 'lxc') (deps.lxcIds ?? createLxcIdRanges(deps.config.stateDir, deps.config.virt.lxcIds)).release(record.domain);
  // the cloud-init seed is no user data: it goes even when keeping the data disks failed
  await removeVeSeed(jobDir);
  // the job body has ended with its job: its FIFO and answer file are no state of the VE
  removeJobBodyChannel(jobDir);
  writeVeJobRecord(deps.config.stateDir, { ...record, status: 'destroyed', reason });
  // a VE whose prologue failed was reported as failed already; destroyed would hide that
  if (!failed && moving === undefined) await emitVeEvent(deps, record, 'destroyed', 'epilogue', reason);
  return { kind: 'destroyed', domain: record.domain, reason, ms: Date.now() - started };
}


// A live-migrated domain has left this host's libvirtd (undefined here, or shut off "migrated").
async function isDomainStillHere(record: VeJobRecord, deps: TeardownVeDeps): Promise<boolean> {
  const virt = await deps.openVirt(record.uri);
  try {
    const state = await virt.getStateReason(record.domain);
    return state !== undefined && state.state !== 'shutoff';
  } finally {
    await virt.close();
  }
}

// Only asked when the host's own evidence cannot tell (a sister, Slurm's signal exit codes): one call at most.
async function readEndCause(ctx: PelogContext, deps: TeardownVeDeps, domainState: DomainState | undefined): Promise<JobEndEvidence['endCause']> {
  const guestEnded = domainState === undefined || domainState === 'shutoff' || domainState === 'shutdown' || domainState === 'crashed';
  const told = !ctx.sister && (ctx.exitStatus === TORQUE_QDEL_EXIT || ctx.exitStatus === TORQUE_WALLTIME_EXIT);
  if (guestEnded || told || deps.readJob === undefined) return undefined;
  try {
    return (await deps.readJob(ctx.jobId))?.endCause;
  } catch (err) {
    deps.log(`pbs-ve: job ${ctx.jobId}: cannot ask the batch system how the job ended: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

// Under the VE's op lock, so a recovery in ve-host-report either finished its restart first or sees
// "stopping" and leaves the domain alone: it never starts what the epilogue is taking down.
async function markStopping(record: VeJobRecord, deps: TeardownVeDeps): Promise<VeJobRecord> {
  const jobDir = findRecordJobDir(deps.config.stateDir, record);
  const mark = (): VeJobRecord => {
    const current = readHostVeJobRecord(deps.config.stateDir, record.jobId, record.host) ?? record;
    // destroyed: a prologue that saw this job ending undid the VE itself (or an earlier start's record)
    if (current.status !== 'failed' && current.status !== 'destroyed') writeVeJobRecord(deps.config.stateDir, { ...current, status: 'stopping' });
    return current;
  };
  try {
    return await withVeJobLock(jobDir, 'epilogue', mark);
  } catch (err) {
    deps.log(`pbs-ve: ${err instanceof Error ? err.message : String(err)}; tearing down without the lock`);
    return mark();
  }
}

/** <stateDir>/kept/<owner>/<name>-<jobId>: where --keep-disk data disks go, owned by the owner */
export function findKeptDiskDir(stateDir: string, owner: string, name: string, jobId: string): string {
  return join(stateDir, 'kept', owner, `${name}-${jobId}`);
}

// A failure to keep is logged and nothing is deleted: losing what the owner asked to keep would be worse.
async function keepDataDisks(record: VeJobRecord, jobDir: string, deps: TeardownVeDeps): Promise<{ kind: 'kept'; dir: string } | { kind: 'failed' } | undefined> {
  const keptDir = findKeptDiskDir(deps.config.stateDir, record.owner, record.spec.name, record.jobId);
  try {
    const owner = await (deps.findOwner ?? findUserIds)(record.owner);
    const kept = await deps.disks.keepDataDisks(jobDir, keptDir, owner);
    if (kept.length === 0) return undefined;
    deps.log(`job ${record.jobId}: data disks kept for ${record.owner}: ${kept.join(' ')}`);
    return { kind: 'kept', dir: keptDir };
  } catch (err) {
    deps.log(`pbs-ve: job ${record.jobId}: keeping the data disks in ${keptDir} failed: ${err instanceof Error ? err.message : String(err)}`);
    return { kind: 'failed' };
  }
}
