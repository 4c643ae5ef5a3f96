// The root side of `ve snapshot` / `ve rollback`: an op job's prologue, on the VE's host, checks with the
// batch system that the op job's owner owns the VE job running here, then acts and leaves the outcome.
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { VeError } from '../core/ve-error.js';
import { formatOpResultLine, type VeOperationResult } from './ve-operation-result.js';
import { decodeVeOperation, type VeOperation } from './encode-ve-operation.js';
import { findVeJobFile, withVeJobLock, ensureJobDir, findJobDir, readVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import { readSnapshotIndex, rollbackVe, takeVeSnapshot, type VeSnapshotDeps } from '../host/ve-snapshots.js';
import { emitVeEvent } from '../host/record-ve-transition.js';
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
}


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
  // a snapshot of one part of a multi-node VE would be a snapshot of nothing the owner could roll back to
  if (record.nodes !== undefined && record.nodes > 1) throw refuse(`job ${op.target} is a VE of ${record.nodes} nodes: snapshots of multi-node VEs are not supported yet`);
  return record;
}

// Performs an authorized operation; one at a time per VE, so a snapshot never races a rollback.
async function performOperation(op: VeOperation, record: VeJobRecord, deps: VeOperationDeps, owner: UserIds): Promise<string> {
  const jobDir = findJobDir(deps.config.stateDir, record.jobId);
  const snapshotDeps: VeSnapshotDeps = { ...deps.snapshots, owner };
  if (op.kind === 'list-snapshots') return `${readSnapshotIndex(deps.config.stateDir, record.jobId).length} snapshot(s)`;
  const snapshot = op.snapshot ?? '';
  return withVeJobLock(jobDir, 'operation', async () => {
    if (op.kind === 'snapshot') {
      const taken = await takeVeSnapshot(record, snapshot, snapshotDeps);
      const message = `snapshot ${taken.name} taken (${taken.kind}, ${taken.ms} ms)`;
      await emitVeEvent(deps, record, 'running', 'recovery', message);
      return message;
    }
    const { ms, downMs } = await rollbackVe(record, snapshot, snapshotDeps);
    const message = `rolled back to snapshot ${snapshot} in ${ms} ms${downMs > 0 ? ` (down ${downMs} ms)` : ''}`;
    await emitVeEvent(deps, record, 'running', 'recovery', message);
    return message;
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
    const message = await performOperation(op, record, deps, owner);
    result = {
      ok: true, kind: op.kind, target: op.target, name: record.spec.name, message,
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
