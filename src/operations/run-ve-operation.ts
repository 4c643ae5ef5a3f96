// The root side of every VE operation (stop, start, restart, suspend, resume, snapshot, rollback): an op job's prologue, on the VE's host, checks with the
// batch system that the op job's owner owns the VE job running here, then acts and leaves the outcome.
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { VeError } from '../core/ve-error.js';
import { formatWalltime } from '../core/parse-size.js';
import { formatOpResultLine, type VeOperationResult } from './ve-operation-result.js';
import { decodeVeOperation, type VeOperation } from './encode-ve-operation.js';
import { findVeJobFile, withVeJobLock, ensureJobDir, findJobDir, readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { startVeDomain } from '../host/start-ve-domain.js';
import { checkVeTransition } from './ve-transitions.js';
import type { DomainStateReason, Virt } from '../virt/virt.js';
import type { VeState } from '../core/ve-state.js';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import { readSnapshotIndex, rollbackVe, takeVeSnapshot, type VeSnapshotDeps } from '../host/ve-snapshots.js';
import { announceVeState } from '../host/record-ve-transition.js';
import { startVeMigration } from './start-ve-migration.js';
import type { Batch, PelogContext } from '../batch/batch.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface VeOperationDeps {
  readonly batch: Batch;
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly log: (line: string) => void;
  /** everything but the owner's ids, which are looked up here */
  readonly snapshots: Omit<VeSnapshotDeps, 'owner'>;
  /** default: getent */
  readonly findOwner?: (user: string) => Promise<UserIds>;
  /** ve extend: the job's new time limit, set after the prologue returned (a TORQUE MOM answers pbs_server's
   *  question about a running job only then); `ve` sees it done in the batch system */
  readonly scheduleTimeLimit: (jobId: string, seconds: number) => void;
  /** ve migrate: the VE's job requeued pinned to the destination, after the prologue returned (as for extend) */
  readonly scheduleMove: (jobId: string, host: string) => void;
}


/** how long `ve stop` gives the guest to shut down by default */
const DEFAULT_STOP_TIMEOUT_SECONDS = 60;

export function findOpResultPath(stateDir: string, opJobId: string): string {
  return findVeJobFile(findJobDir(stateDir, opJobId), 'opResult');
}

// Only what the batch system says counts: owners and hosts of both jobs, never a variable of either.
async function authorizeOperation(ctx: PelogContext, op: VeOperation, deps: VeOperationDeps): Promise<VeJobRecord> {
  const opJob = await deps.batch.getJob(ctx.jobId);
  if (opJob === undefined) throw new VeError('job-unknown', 'environment', `job ${ctx.jobId}: the batch system does not know it`);
  if (opJob.owner !== ctx.user) throw new VeError('permission-denied', 'prereq', `job ${ctx.jobId}: owner ${opJob.owner} is not the prologue's user ${ctx.user}`);
  const target = await deps.batch.getJob(op.target);
  const refuse = (why: string): VeError => new VeError('permission-denied', 'prereq', `name: ${why}`, { field: 'name' });
  if (target === undefined) throw refuse(`job ${op.target} is not known to the batch system`);
  if (target.owner !== opJob.owner && opJob.owner !== 'root') throw refuse(`job ${op.target} is not yours (${opJob.owner}): nothing was done`);
  if (target.state !== 'running') throw refuse(`job ${op.target} is not running (${target.rawState})`);
  if (target.execHosts[0] !== ctx.host) throw refuse(`job ${op.target} does not run on ${ctx.host}`);
  const record = readVeJobRecord(deps.config.stateDir, op.target);
  if (record?.status !== 'realized' || record.owner !== target.owner || record.host !== ctx.host) {
    throw refuse(`job ${op.target} has no running VE on ${ctx.host} (${record === undefined ? 'not a VE job' : record.status})`);
  }
  // one part of a multi-node VE stopped or snapshotted alone is not something its owner could use
  if (record.nodes !== undefined && record.nodes > 1) throw refuse(`job ${op.target} is a VE of ${record.nodes} nodes: operations on multi-node VEs are not supported yet`);
  return record;
}

// The VE's state as this host sees it: libvirt's domain state read with the owner's last wish.
export function findHostVeState(record: Pick<VeJobRecord, 'ownerState'>, domain: DomainStateReason | undefined): VeState | undefined {
  if (domain === undefined) return undefined;
  if (domain.state === 'paused' || domain.state === 'pmsuspended') return 'suspended';
  if (domain.state === 'running' || domain.state === 'blocked') return 'running';
  // shut off: saved to disk by ve suspend --to-disk, stopped by ve stop, or crashed (the recovery's, or ve start's)
  return record.ownerState === 'suspended' ? 'suspended' : 'stopped';
}

interface Executed {
  readonly message: string;
  readonly record: VeJobRecord;
  readonly state: VeState;
  /** extend: the time limit the job gets */
  readonly timeLimitSeconds?: number;
}

// The owner's wish goes into the record before libvirt acts: the job body and the recovery read it and leave the VE alone.
function withOwnerState(record: VeJobRecord, ownerState: 'stopped' | 'suspended' | undefined): VeJobRecord {
  const rest: { -readonly [K in keyof VeJobRecord]: VeJobRecord[K] } = { ...record };
  delete rest.ownerState;
  return ownerState === undefined ? rest : { ...rest, ownerState };
}

// Stopping asks the guest first (ACPI / SIGTERM to init) and destroys only after the timeout.
async function stopDomain(op: VeOperation, record: VeJobRecord, virt: Virt): Promise<string> {
  const started = Date.now();
  if (op.force === true) {
    await virt.destroyDomain(record.domain);
    return 'destroyed at once (--force)';
  }
  // a paused guest cannot answer an ACPI request
  if ((await virt.getDomain(record.domain))?.state === 'paused') await virt.resumeDomain(record.domain);
  const timeoutMs = (op.timeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS) * 1000;
  await virt.shutdownDomain(record.domain);
  try {
    await virt.waitForState(record.domain, (s) => s === undefined || s === 'shutoff', timeoutMs);
    return `shut down by the guest in ${Date.now() - started} ms`;
  } catch (err) {
    if (!(err instanceof VeError) || err.code !== 'virt-timeout') throw err;
    await virt.destroyDomain(record.domain);
    return `the guest did not shut down within ${timeoutMs / 1000} s: destroyed`;
  }
}

async function executeOperation(op: VeOperation, record: VeJobRecord, from: VeState, virt: Virt, deps: VeOperationDeps, owner: UserIds): Promise<Executed> {
  const snapshotDeps: VeSnapshotDeps = { ...deps.snapshots, owner };
  const start = (r: VeJobRecord): Promise<void> => startVeDomain(r, virt, owner, { stateDir: deps.config.stateDir, console: deps.snapshots.console, startTimeoutMs: deps.config.virt.startTimeoutMs, log: deps.log });
  // a failed action puts the owner's previous wish back, so the job body and the recovery see the truth
  const attempt = async (wish: VeJobRecord, act: () => Promise<string>): Promise<string> => {
    writeVeJobRecord(deps.config.stateDir, wish);
    try {
      return await act();
    } catch (err) {
      writeVeJobRecord(deps.config.stateDir, record);
      throw err;
    }
  };
  switch (op.kind) {
    case 'list-snapshots':
      return { message: `${readSnapshotIndex(deps.config.stateDir, record.jobId).length} snapshot(s)`, record, state: from };
    case 'snapshot': {
      const taken = await takeVeSnapshot(record, op.snapshot ?? '', snapshotDeps);
      return { message: `snapshot ${taken.name} taken (${taken.kind}, ${taken.ms} ms)`, record, state: from };
    }
    case 'rollback': {
      const { ms, downMs } = await rollbackVe(record, op.snapshot ?? '', snapshotDeps);
      return { message: `rolled back to snapshot ${op.snapshot ?? ''} in ${ms} ms${downMs > 0 ? ` (down ${downMs} ms)` : ''}`, record, state: 'running' };
    }
    case 'stop': {
      const stopped = withOwnerState(record, 'stopped');
      const message = await attempt(stopped, () => stopDomain(op, record, virt));
      return { message: `stopped: ${message}`, record: stopped, state: 'stopped' };
    }
    case 'start': {
      const running = withOwnerState(record, undefined);
      const ms = Date.now();
      await attempt(record, () => start(running).then(() => ''));
      writeVeJobRecord(deps.config.stateDir, running);
      return { message: `started in ${Date.now() - ms} ms`, record: running, state: 'running' };
    }
    case 'restart': {
      const ms = Date.now();
      // the domain is down for a moment: the record says stopped meanwhile so nothing mistakes it for a crash.
      // A soft restart is a clean guest shutdown and a start (QEMU VEs turn a guest reboot into a stop: on_reboot=destroy)
      const how = await attempt(withOwnerState(record, 'stopped'), async () => {
        const stopped = op.hard === true ? (await virt.destroyDomain(record.domain), 'destroyed') : await stopDomain({ kind: 'stop', target: record.jobId }, record, virt);
        await start(record);
        return stopped;
      });
      writeVeJobRecord(deps.config.stateDir, record);
      return { message: `${op.hard === true ? 'destroyed' : `restarted (${how})`} and started again in ${Date.now() - ms} ms`, record, state: 'running' };
    }
    case 'suspend': {
      const suspended = withOwnerState(record, 'suspended');
      const message = await attempt(suspended, async () => {
        if (op.toDisk === true) {
          await virt.saveDomain(record.domain);
          return 'memory saved to disk and freed';
        }
        await virt.suspendDomain(record.domain);
        return 'paused, memory kept';
      });
      return { message: `suspended: ${message}`, record: suspended, state: 'suspended' };
    }
    case 'extend': {
      // the batch system's limit is the lease: read it there, never from the owner's token
      const job = await deps.batch.getJob(record.jobId);
      const limit = job?.resources.walltimeSeconds;
      if (job === undefined || limit === undefined) throw new VeError('lease-unknown', 'environment', `job ${record.jobId}: the batch system states no time limit to extend`);
      const wanted = limit + (op.addSeconds ?? 0);
      const max = deps.config.batch.maxLeaseSeconds;
      if (wanted > max) {
        throw new VeError('lease-too-long', 'prereq', `lease: ${limit} s + ${op.addSeconds ?? 0} s = ${wanted} s is more than the site's maximum lease of ${max} s`, { field: 'lease' });
      }
      deps.scheduleTimeLimit(record.jobId, wanted);
      return { message: `lease extended from ${formatWalltime(limit)} to ${formatWalltime(wanted)}`, record, state: from, timeLimitSeconds: wanted };
    }
    case 'migrate': {
      const moved = await startVeMigration(op, record, from, {
        config: deps.config, now: () => deps.clock.now(), scheduleMove: deps.scheduleMove,
        stopDomain: (r) => stopDomain({ kind: 'stop', target: r.jobId }, r, virt),
      });
      return { message: moved.message, record: moved.record, state: 'migrating' };
    }
    case 'resume': {
      const running = withOwnerState(record, undefined);
      const domain = await virt.getDomain(record.domain);
      const fromDisk = domain?.state !== 'paused';
      await attempt(record, async () => {
        if (fromDisk) await start(running);
        else await virt.resumeDomain(record.domain);
        return '';
      });
      writeVeJobRecord(deps.config.stateDir, running);
      return { message: fromDisk ? 'resumed from its saved memory' : 'resumed', record: running, state: 'running' };
    }
  }
}

// Performs an authorized operation under the VE's lock, every fact read again inside it.
async function performOperation(op: VeOperation, authorized: VeJobRecord, deps: VeOperationDeps, owner: UserIds): Promise<Executed> {
  const jobDir = findJobDir(deps.config.stateDir, authorized.jobId);
  return withVeJobLock(jobDir, 'operation', async () => {
    const record = readVeJobRecord(deps.config.stateDir, authorized.jobId);
    if (record?.status !== 'realized') throw new VeError('ve-wrong-state', 'prereq', `name: VE "${authorized.spec.name}" is ${record?.status ?? 'gone'} on ${authorized.host}`, { field: 'name' });
    const virt = await deps.snapshots.openVirt(record.uri);
    try {
      const from = findHostVeState(record, await virt.getStateReason(record.domain));
      if (from === undefined) throw new VeError('ve-wrong-state', 'prereq', `name: VE "${record.spec.name}" has no domain on ${record.host}`, { field: 'name' });
      checkVeTransition(op.kind, from, record.spec.name);
      const done = await executeOperation(op, record, from, virt, deps, owner);
      // a read changes nothing and says nothing to the inventory
      if (op.kind !== 'list-snapshots') await announceVeState(deps, done.record, done.state, 'operation', `${op.kind}: ${done.message}`);
      return done;
    } finally {
      await virt.close();
    }
  });
}

// The result file is the owner's: the op job body (running as the owner) prints it.
function writeOpResult(ctx: PelogContext, deps: VeOperationDeps, result: VeOperationResult, owner: UserIds | undefined): void {
  ensureJobDir(findJobDir(deps.config.stateDir, ctx.jobId));
  const file = findOpResultPath(deps.config.stateDir, ctx.jobId);
  writeFileNoFollow(file, formatOpResultLine(result), { mode: owner === undefined ? 0o644 : 0o600, ...(owner === undefined ? {} : { owner }) });
}

/**
 * Never throws: a refused or failed operation is the op job's outcome, not a host fault (a failing
 * Slurm Prolog would drain the node the VE runs on).
 */
export async function runVeOperation(ctx: PelogContext, token: string, deps: VeOperationDeps): Promise<VeOperationResult> {
  const started = Date.now();
  let owner: UserIds | undefined;
  let result: VeOperationResult;
  try {
    owner = await (deps.findOwner ?? findUserIds)(ctx.user);
    const op = decodeVeOperation(token);
    const record = await authorizeOperation(ctx, op, deps);
    const { message, state, timeLimitSeconds } = await performOperation(op, record, deps, owner);
    result = {
      ok: true, kind: op.kind, target: op.target, name: record.spec.name, message, state, ...(timeLimitSeconds === undefined ? {} : { timeLimitSeconds }),
      snapshots: readSnapshotIndex(deps.config.stateDir, record.jobId), ms: Date.now() - started,
    };
    deps.log(`job ${ctx.jobId}: ${op.kind} on VE job ${op.target} for ${ctx.user}: ${message}`);
  } catch (err) {
    const e = err instanceof VeError ? err : new VeError('operation-failed', 'exec', err instanceof Error ? err.message : String(err), { cause: err });
    result = { ok: false, code: e.code, errorKind: e.kind, message: e.message };
    deps.log(`job ${ctx.jobId}: VE operation refused or failed for ${ctx.user}: ${e.code}: ${e.message}`);
  }
  try {
    writeOpResult(ctx, deps, result, owner);
  } catch (err) {
    deps.log(`job ${ctx.jobId}: could not write the operation result: ${err instanceof Error ? err.message : String(err)}`);
  }
  return result;
}
