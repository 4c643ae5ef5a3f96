import { readHostVeJobRecord, findRecordJobDir, writeVeJobRecord } from '../host/ve-job-record.js';
import { emitVeEvent } from '../prologue/realize-ve.js';
import type { PelogContext } from '../batch/batch.js';
import type { Virt, DomainState } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { VeDisks } from '../host/ve-disks.js';
import { join } from 'node:path';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import { createVeConsole, type VeConsole } from '../host/ve-console.js';
import type { VeJobRecord } from '../host/ve-job-record.js';
import { removeVeSnapshots } from '../host/ve-snapshots.js';
import { withLockFile } from '../core/with-lock-file.js';
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
  /** default: console capture with the configured node and installation */
  readonly console?: VeConsole;
  /** default: transient libvirt networks through virsh, state in <stateDir>/networks */
  readonly networks?: VeNetworks;
  /** LXC user namespaces; default: slots under <stateDir>/lxc-ids */
  readonly lxcIds?: LxcIdRanges;
}

export type TeardownOutcome =
  | { readonly kind: 'not-a-ve' }
  | { readonly kind: 'destroyed'; readonly domain: string; readonly reason: string; readonly ms: number };

/** TORQUE's exit_status for a job deleted by qdel (observed in the fixtures: 271). */
const TORQUE_QDEL_EXIT = 271;

// Users read this in `ve show`: say how the VE ended in their words, not the batch system's.
export function describeJobEnd(domainState: DomainState | undefined, exitStatus: number | undefined): string {
  if (domainState === 'shutoff' || domainState === 'shutdown' || domainState === undefined) return 'guest powered off or domain gone';
  if (domainState === 'crashed') return 'guest crashed';
  if (exitStatus === TORQUE_QDEL_EXIT) return 'job deleted (qdel)';
  if (exitStatus !== undefined) return `job ended (exit status ${exitStatus}): cancelled or lease expired`;
  return 'job ended: cancelled or lease expired';
}

/**
 * The epilogue: whatever ended the job (qdel/scancel, lease expiry, guest poweroff), the domain is
 * destroyed and undefined and the per-VE disk removed. Jobs this host never realized pass untouched.
 */
export async function teardownVe(ctx: PelogContext, deps: TeardownVeDeps): Promise<TeardownOutcome> {
  const started = Date.now();
  // each host tears down only the part it realized (a multi-node VE's other parts are their hosts' business)
  const record = readHostVeJobRecord(deps.config.stateDir, ctx.jobId, ctx.host);
  // a record another host wrote (a requeued VE now running elsewhere, with shared state) is not ours to end
  if (record === undefined || record.uri === '' || record.host !== ctx.host) return { kind: 'not-a-ve' };
  // re-read under the lock: the recovery may have given up on the VE (failed) just before
  const failed = (await markStopping(record, deps)).status === 'failed';
  const virt = await deps.openVirt(record.uri);
  let reason: string;
  try {
    const before = await virt.getDomain(record.domain);
    reason = describeJobEnd(before?.state, ctx.exitStatus);
    await virt.destroyDomain(record.domain);
    // libvirt refuses to undefine a domain that still has snapshots; their data goes with the disks below
    await removeVeSnapshots(record, deps.config.stateDir);
    await virt.undefineDomain(record.domain);
  } finally {
    await virt.close();
  }
  // a private network goes with its last VE; a failure here is logged, not a host fault to drain for
  if (record.networks !== undefined && record.networks.length > 0) {
    const networks = deps.networks ?? createVeNetworks({ stateDir: deps.config.stateDir, log: deps.log });
    await networks.release(record.uri, record.jobId, record.networks)
      .then((gone) => { if (gone.length > 0) deps.log(`job ${record.jobId}: networks removed with their last VE: ${gone.join(' ')}`); })
      .catch((err: unknown) => { deps.log(`pbs-ve: job ${record.jobId}: releasing networks: ${err instanceof Error ? err.message : String(err)}`); });
  }
  const jobDir = findRecordJobDir(deps.config.stateDir, record);
  await (deps.console ?? createVeConsole({ nodePath: deps.config.nodePath, installDir: deps.config.installDir })).stopCapture(jobDir)
    .catch((err: unknown) => { deps.log(`pbs-ve: stopping the console capture: ${err instanceof Error ? err.message : String(err)}`); });
  const kept = record.spec.keepDisks === true ? await keepDataDisks(record, jobDir, deps) : undefined;
  if (kept?.kind === 'kept') reason = `${reason}; data disks kept in ${kept.dir}`;
  if (kept?.kind === 'failed') reason = `${reason}; keeping the data disks failed, they stay in ${jobDir}`;
  else await deps.disks.remove(jobDir);
  // the ids go back to the pool only once no file of the container carries them
  if (record.spec.type === 'lxc') (deps.lxcIds ?? createLxcIdRanges(deps.config.stateDir, deps.config.virt.lxcIds)).release(record.domain);
  // the cloud-init seed is no user data: it goes even when keeping the data disks failed
  await removeVeSeed(jobDir);
  writeVeJobRecord(deps.config.stateDir, { ...record, status: 'destroyed', reason });
  // a VE whose prologue failed was reported as failed already; destroyed would hide that
  if (!failed) await emitVeEvent(deps, record, 'destroyed', 'epilogue', reason);
  return { kind: 'destroyed', domain: record.domain, reason, ms: Date.now() - started };
}

// Under the VE's op lock, so a recovery in ve-host-report either finished its restart first or sees
// "stopping" and leaves the domain alone: it never starts what the epilogue is taking down.
async function markStopping(record: VeJobRecord, deps: TeardownVeDeps): Promise<VeJobRecord> {
  const jobDir = findRecordJobDir(deps.config.stateDir, record);
  const mark = (): VeJobRecord => {
    const current = readHostVeJobRecord(deps.config.stateDir, record.jobId, record.host) ?? record;
    if (current.status !== 'failed') writeVeJobRecord(deps.config.stateDir, { ...current, status: 'stopping' });
    return current;
  };
  try {
    return await withLockFile(join(jobDir, 'op.lock'), 30_000, mark);
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
