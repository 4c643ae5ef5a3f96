// `ve snapshot` / `ve snapshot list` / `ve rollback`: one small op job on the VE's host; its prologue (root)
// checks ownership with the batch system and acts, its body prints the outcome, which `ve` reads back.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { UserIds } from '../host/find-user-ids.js';
import { join } from 'node:path';
import { VeError, invalidField } from '../core/ve-error.js';
import { formatOperationLine, validateVeOperation, type VeOperation } from './encode-ve-operation.js';
import { checkVeTransition } from './ve-transitions.js';
import type { VeState } from '../core/ve-state.js';
import { parseOpResultOutput, type VeOperationResult, type VeSnapshotInfo } from './ve-operation-result.js';
import { findVe } from '../qsub-wrappers/show-ve.js';
import type { ListVesDeps } from '../qsub-wrappers/list-ves.js';
import type { Batch } from '../batch/batch.js';
import type { Clock } from '../core/clock.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface SnapshotVeDeps extends ListVesDeps {
  readonly batch: Batch;
  readonly config: PbsVeConfig;
  readonly clock: Clock;
}

export interface SnapshotVeOptions {
  /** how long to wait for the op job (queueing included) */
  readonly waitMs: number;
  /** where the op job's output goes: a directory the user can write and read back here */
  readonly outputDir: string;
  /**
   * root (an admin's drain, or root acting for a user): the op job is submitted as the VE's owner, so the
   * batch system authorizes it as theirs (TORQUE refuses root's jobs), with its output in a private
   * directory made for that owner under this one
   */
  readonly asOwner?: { readonly findOwner: (user: string) => Promise<UserIds> };
}

export type VeOperationDone = Extract<VeOperationResult, { ok: true }>;

const SAFE_PATH = /^\/[A-Za-z0-9_./+-]*$/;
/** the op job's walltime: the longest a snapshot copy or a rollback may take */
const OP_WALLTIME_SECONDS = 900;
/** an op job's memory (and ve ssh's relay job's on TORQUE), at least the site's minimum */
export const OP_MEMORY_MIB = 64;
const POLL_MS = 100;
const INVENTORY_POLL_MS = 250;
/** how long an op job may wait for room on the VE's host before `ve` says the host is full */
const QUEUED_GRACE_MS = 10_000;
const OUTPUT_GRACE_MS = 10_000;

/** s-20250102-130405: a default name that sorts by time and passes the snapshot name rule */
export function buildDefaultSnapshotName(now: Date): string {
  const iso = now.toISOString();
  return `s-${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

/** The op job's script: the op line the prologue acts on, then a body that prints what it left. */
export function buildOperationJobScript(op: VeOperation, veName: string, config: PbsVeConfig): string {
  const stateDir = config.hostStateDir ?? config.stateDir;
  const parts = stateDir.split('%h');
  if (!parts.every((p) => SAFE_PATH.test(`/${p}`))) throw new VeError('invalid-config', 'environment', 'config hostStateDir/stateDir: must be an absolute path of [A-Za-z0-9_./+-] ("%h" for the host)', { field: 'stateDir' });
  return [
    '#!/bin/sh',
    formatOperationLine(op),
    `# pbs-ve: ${op.kind} on VE "${veName}" (job ${op.target}); the prologue on the VE's host does it, this prints the outcome`,
    // "%h" is this host as the batch system names it (Slurm tells its jobs; TORQUE's MOM host name)
    ...(parts.length > 1 ? ['h=${SLURMD_NODENAME:-$(uname -n)}', 'h=${h%%.*}'] : []),
    `f=${parts.join('$h')}/jobs/\${SLURM_JOB_ID:-$PBS_JOBID}/op-result`,
    'cat -- "$f" && grep -q \'"ok":true\' -- "$f"',
    '',
  ].join('\n');
}

// The result line is there as soon as the op job's body ran: no need to wait for its epilogue. A job still
// queued at the deadline is cancelled so it never acts late; an ended job gets a grace for its output
// (shared file systems, TORQUE's stage-out).
async function waitForOpResult(deps: SnapshotVeDeps, jobId: string, outputPath: string, waitMs: number, progress: ShowProgress): Promise<VeOperationResult> {
  const started = Date.now();
  const deadline = started + waitMs;
  let endedAt: number | undefined;
  for (;;) {
    const text = await readFile(outputPath, 'utf8').catch(() => undefined);
    const result = text === undefined ? undefined : parseOpResultOutput(text);
    if (result !== undefined) return result;
    if (endedAt === undefined) {
      const job = await deps.batch.getJob(jobId);
      if (job === undefined || job.state === 'completed') endedAt = Date.now();
      else progress(`waiting for operation job ${jobId} (${job.rawState}${job.state === 'queued' ? ': the VE\'s host has no free cpu or memory for it yet' : ''}, ${Math.round((Date.now() - started) / 1000)} s)`);
      // a host with no room for the op job would keep it queued for as long as the VE holds it: say so now
      // only when the batch system says so (its reason names free cpus or memory): a scheduler that has not
      // looked yet (TORQUE's cycle) is no full host
      if (job?.state === 'queued' && Date.now() - started > QUEUED_GRACE_MS && /free cpus or memory/.test(job.waitReason ?? '')) {
        await deps.batch.cancel(jobId).catch(() => undefined);
        throw new VeError('host-full', 'environment', `operation job ${jobId} stayed queued ${Math.round((Date.now() - started) / 1000)} s (${job.waitReason ?? job.rawState}): the VE's host has no free cpu or memory for it; it was cancelled (see docs/design.md, "Operations")`);
      }
      if (endedAt === undefined && Date.now() >= deadline && job !== undefined) {
        await deps.batch.cancel(jobId).catch(() => undefined);
        const why = job.state === 'queued' ? ': the VE\'s host has no free cpu or memory for it (see docs/design.md)' : '';
        throw new VeError('operation-timeout', 'environment', `operation job ${jobId} did not finish within ${waitMs} ms (${job.rawState})${why}; it was cancelled`);
      }
    } else if (Date.now() - endedAt > OUTPUT_GRACE_MS) {
      const tail = text === undefined ? 'no output file' : text.trim().split('\n').slice(-3).join(' | ');
      throw new VeError('operation-no-result', 'exec', `operation job ${jobId} left no result (${tail}): is the pbs-ve prologue installed on the VE's host?`);
    }
    await deps.clock.sleep(POLL_MS);
  }
}

/** what the owner asks for, before the VE is known */
export type VeOperationRequest = Omit<VeOperation, 'target'>;

/** what `ve` shows while it waits: phase and seconds so far; a terminal overwrites one line with it */
export type ShowProgress = (what: string) => void;

// The op job's outcome reaches LDAP through the vemon path a moment later: waiting for it keeps `ve stop; ve start` in order.
// ve extend: the host sets the limit just after its prologue; the batch system is where it counts.
async function waitForTimeLimit(deps: SnapshotVeDeps, jobId: string, seconds: number, deadline: number, progress: ShowProgress): Promise<string | undefined> {
  let last: number | undefined;
  while (Date.now() < deadline) {
    last = (await deps.batch.getJob(jobId))?.resources.walltimeSeconds;
    if (last !== undefined && last >= seconds) return undefined;
    progress(`waiting for the batch system to show the new time limit (${last ?? '?'} s of ${seconds} s)`);
    await deps.clock.sleep(INVENTORY_POLL_MS);
  }
  return `requested; the batch system still shows a limit of ${last ?? '?'} s (see the VE host's pbs-ve.log)`;
}

// A change, not only a state: a restart leaves the state as it was, its event still has to arrive.
async function waitForInventoryState(deps: SnapshotVeDeps, ve: { readonly name: string; readonly jobId: string; readonly lastChange: string }, owner: string | undefined, state: VeState, deadline: number, progress: ShowProgress, host?: string): Promise<string | undefined> {
  const started = Date.now();
  let last: string | undefined;
  const where = host === undefined ? '' : ` on ${host}`;
  while (Date.now() < deadline) {
    const now = await findVe(deps, ve.jobId, owner).catch(() => undefined);
    if (now?.state === state && now.lastChange !== ve.lastChange && (host === undefined || now.host === host)) return undefined;
    last = now === undefined ? undefined : `${now.state} on ${now.host}`;
    progress(`waiting for the inventory to show ${ve.name} ${state}${where} (${Math.round((Date.now() - started) / 1000)} s, now ${last ?? '?'})`);
    await deps.clock.sleep(INVENTORY_POLL_MS);
  }
  return `done on the host; the inventory still says ${last ?? 'nothing'} (ve-monitor on the vemon node: see its failed spool)`;
}

/**
 * Submits one op job to the VE's host and returns its outcome; a refusal comes back as the prologue's
 * VeError. Phases: the arguments, then the VE's state in LDAP against the transition table and its job in
 * the batch system (no job is submitted for an operation that cannot run), then the op job.
 */
export async function runVeOperationJob(
  deps: SnapshotVeDeps, nameOrJobId: string, owner: string | undefined, request: VeOperationRequest, options: SnapshotVeOptions, progress: ShowProgress = () => undefined,
): Promise<VeOperationDone> {
  // migrate without --to: the destination is chosen below, once the VE's host is known
  const destinationLater = request.kind === 'migrate' && request.to === undefined;
  validateVeOperation({ ...request, target: '0', ...(destinationLater ? { to: 'x' } : {}) });
  if (!SAFE_PATH.test(options.outputDir)) throw invalidField('cwd', 'run ve from a directory whose path has only A-Z a-z 0-9 _ . / + - (the op job\'s output goes there)', options.outputDir);
  const deadline = Date.now() + options.waitMs;
  const ve = await findVe(deps, nameOrJobId, owner);
  checkVeTransition(request.kind, ve.state, ve.name);
  const job = await deps.batch.getJob(ve.jobId);
  const host = job?.execHosts[0];
  if (job?.state !== 'running' || host === undefined) {
    throw new VeError('ve-not-running', 'prereq', `name: VE "${ve.name}" (job ${ve.jobId}) has no running job (${job?.rawState ?? ve.state})`, { field: 'name' });
  }
  const to = destinationLater ? await pickMigrationHost(deps.batch, ve, host) : request.to;
  const op = validateVeOperation({ ...request, target: ve.jobId, ...(to === undefined ? {} : { to }) });
  const ownerDir = options.asOwner === undefined ? undefined : await makeOwnerOutputDir(options.outputDir, await options.asOwner.findOwner(ve.owner));
  const outputPath = join(ownerDir ?? options.outputDir, `.ve-op-${ve.jobId.replace(/[^A-Za-z0-9]/g, '_')}-${randomBytes(6).toString('hex')}.out`);
  const opJobId = await deps.batch.submit({
    name: `veop-${ve.name}`.slice(0, 64),
    queue: deps.config.batch.opQueue ?? deps.config.batch.veQueue,
    // the VE holds its cpus already: the op job takes the room each host keeps for operations
    cpus: 0,
    memoryMiB: Math.max(deps.config.minMemoryMiB, OP_MEMORY_MIB),
    walltimeSeconds: OP_WALLTIME_SECONDS,
    features: [],
    nodeCount: 1,
    nodeList: [host],
    variables: {},
    script: buildOperationJobScript(op, ve.name, deps.config),
    outputPath,
    ...(options.asOwner === undefined ? {} : { submitAs: ve.owner }),
  }).catch(async (err: unknown) => {
    if (ownerDir !== undefined) await rm(ownerDir, { recursive: true, force: true });
    throw err;
  });
  progress(`${op.kind} ${ve.name}: operation job ${opJobId} submitted to ${host}`);
  try {
    const result = await waitForOpResult(deps, opJobId, outputPath, Math.max(1000, deadline - Date.now()), progress);
    if (!result.ok) throw new VeError(result.code, result.errorKind, result.message);
    if (op.kind === 'list-snapshots') return result;
    const limitBehind = result.timeLimitSeconds === undefined ? undefined : await waitForTimeLimit(deps, ve.jobId, result.timeLimitSeconds, deadline, progress);
    if (limitBehind !== undefined) return { ...result, message: `${result.message} (${limitBehind})` };
    // a migration ends where the VE runs again: on the destination, reported by its prologue
    const behind = op.kind === 'migrate'
      ? await waitForInventoryState(deps, ve, owner, 'running', deadline, progress, op.to)
      : await waitForInventoryState(deps, ve, owner, result.state, deadline, progress);
    if (op.kind === 'migrate' && behind === undefined) return { ...result, state: 'running', message: `${result.message}; running on ${op.to ?? '?'}` };
    return behind === undefined ? result : { ...result, message: `${result.message} (${behind})` };
  } finally {
    await rm(ownerDir ?? outputPath, { recursive: true, force: true });
  }
}

/**
 * ve migrate without --to: a host that is up and takes jobs, offers the VE's type (node feature lxc/kvm) and
 * has the most cpus not taken by jobs; the batch system then starts the VE's job there once it fits.
 */
export async function pickMigrationHost(batch: Batch, ve: { readonly name: string; readonly type: string; readonly vcpus: number }, from: string): Promise<string> {
  const nodes = (await batch.listNodes()).filter((n) => n.name !== from && (n.state === 'free' || n.state === 'busy') && n.features.includes(ve.type) && n.cpus >= ve.vcpus);
  const best = nodes.sort((a, b) => (b.cpus - b.jobIds.length) - (a.cpus - a.jobIds.length) || a.name.localeCompare(b.name))[0];
  if (best === undefined) throw new VeError('no-migration-host', 'prereq', `to: no other host is up with the feature "${ve.type}" and ${ve.vcpus} cpu(s) for VE "${ve.name}"`, { field: 'to' });
  return best.name;
}

// A directory only the owner (and root) can use: the owner's op job writes its output there, root reads it.
async function makeOwnerOutputDir(parent: string, owner: UserIds): Promise<string> {
  const dir = await mkdtemp(join(parent, '.ve-op-'));
  await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o700);
  return dir;
}

// One line per snapshot, oldest first, as `ve list` prints VEs.
export function formatSnapshotTable(snapshots: readonly VeSnapshotInfo[]): string {
  if (snapshots.length === 0) return '(no snapshots)';
  const rows = [['NAME', 'KIND', 'TAKEN', 'MS'], ...snapshots.map((s) => [s.name, s.kind, s.createdAt, String(s.ms)])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i] ?? 0) : c)).join('  ')).join('\n');
}
