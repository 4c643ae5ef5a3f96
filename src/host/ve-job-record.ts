// The one owner of a VE's host-side state: its job directory's layout (record, seq, reported marker, recovery
// record, console log, op results, snapshots, the job body's channel), the directory's modes and its lock with
// one timeout policy. Nothing else builds these paths.
import { chmodSync, closeSync, constants, fchownSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { withLockFile } from '../core/with-lock-file.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { formatPartSuffix } from '../core/build-domain-name.js';
import type { VeSpec } from '../core/ve-spec.js';
import type { VeNic } from '../core/ve-nic.js';
import type { HostNetworkPlan } from '../prologue/plan-ve-networks.js';
import type { LxcIdMap } from '../virt/domain-spec.js';
import type { UserIds } from './find-user-ids.js';
import type { RunCommand } from '../core/run-command.js';

/** What the prologue realized on this host, for the epilogue, the job body and the MOM hook. */
export interface VeJobRecord {
  readonly jobId: string;
  readonly spec: VeSpec;
  readonly owner: string;
  readonly host: string;
  readonly domain: string;
  readonly uri: string;
  /** read-only URI the job body (running as the owner) watches */
  readonly roUri: string;
  readonly startCount: number;
  /** realized: domain running; failed: the prologue could not start it, or the recovery gave up;
   *  stopping: the epilogue is taking it down (no recovery restarts it); destroyed: the epilogue ran */
  readonly status: 'starting' | 'realized' | 'failed' | 'stopping' | 'destroyed';
  readonly reason: string;
  /** a realized VE its owner stopped or suspended (ve stop / ve suspend): its job, lease and disks stay, the
   *  job body keeps waiting, the recovery leaves it alone; absent = the owner wants it running */
  readonly ownerState?: 'stopped' | 'suspended';
  /** ve migrate, on the source host: the VE is moving to another host; the epilogue of the requeue that moves
   *  its job hands it over (nothing destroyed, no "destroyed" event) and the host report clears what stays */
  readonly migration?: VeMigration;
  readonly emulated: boolean;
  /** ISO time the prologue began realizing the VE (for start-up measurements) */
  readonly startedAt?: string;
  /** multi-node VEs only: which part this host realized (0 = the job's first host) */
  readonly part?: number;
  /** multi-node VEs only: how many parts the VE has */
  readonly nodes?: number;
  /** the VE's NICs (network, MAC, IP once the host report saw a lease) */
  readonly nics?: readonly VeNic[];
  /** the libvirt networks the prologue ensured, for the epilogue to release */
  readonly networks?: readonly HostNetworkPlan[];
  /** LXC: the host ids the container's root and users are (its user namespace), freed by the epilogue */
  readonly lxcIdMap?: LxcIdMap;
}

/** a VE on its way from one host to another (ve migrate) */
export interface VeMigration {
  readonly from: string;
  readonly to: string;
  /** QEMU live migration: the guest keeps running; otherwise the VE was stopped and its files packed */
  readonly live: boolean;
  /** ISO time the source host began the move */
  readonly at: string;
}

/** the files of a job directory, by what they hold */
export const VE_JOB_FILES = {
  record: 've.json',
  refusal: 'refused',
  seq: 'seq',
  reported: 'reported',
  recovery: 'recovery.json',
  hostFaults: 'host-faults',
  console: 'console.log',
  opResult: 'op-result',
  snapshots: 'snapshots',
  lock: 'op.lock',
  /** the destination's domain XML for a live migration (written by the destination's prologue) */
  migrationXml: 'migration.xml',
  /** a cold migration's files as fetched from the source host, until unpacked */
  incoming: 'incoming.tar',
  bodyFifo: 'job-body.fifo',
  bodyEnd: 'job-body.end',
} as const;

/** what a cold migration carries from a job directory: disks, rootfs, snapshots and their index, console log */
export const VE_MOVABLE_ENTRIES = ['private', 'disk.qcow2', 'snapshots', 'snapshots.json', 'console.log'] as const;

/**
 * A host's outgoing migrations: <stateDir>/outgoing/<jobId>.json (what moves where) and <jobId>.tar (a cold
 * move's files), root's alone; the destination reads them through this host's libvirtd (a storage pool).
 */
export function findOutgoingDir(stateDir: string): string {
  return join(stateDir, 'outgoing');
}

export function findOutgoingFile(stateDir: string, jobId: string, what: 'manifest' | 'bundle'): string {
  return join(findOutgoingDir(stateDir), `${jobId}.${what === 'manifest' ? 'json' : 'tar'}`);
}
export type VeJobFile = keyof typeof VE_JOB_FILES;

/**
 * Who takes a VE's lock and how long each waits: the epilogue outwaits a prologue's VE start (it must tear
 * down what the prologue made), an operation outwaits a snapshot copy, the periodic hook never waits long
 * (it comes back next run).
 */
export const VE_LOCK_WAIT_MS = {
  prologue: 60_000,
  epilogue: 240_000,
  operation: 120_000,
  recovery: 2_000,
  report: 5_000,
  watch: 120_000,
} as const;
export type VeLockHolder = keyof typeof VE_LOCK_WAIT_MS;

// One lock per job directory serializes everything that changes a VE on this host.
export async function withVeJobLock<T>(jobDir: string, holder: VeLockHolder, fn: () => Promise<T> | T): Promise<T> {
  return withLockFile(join(jobDir, VE_JOB_FILES.lock), VE_LOCK_WAIT_MS[holder], fn);
}

// A named file of a job directory: the only way any module finds one.
export function findVeJobFile(jobDir: string, file: VeJobFile): string {
  return join(jobDir, VE_JOB_FILES[file]);
}

export function findJobDir(stateDir: string, jobId: string): string {
  return join(stateDir, 'jobs', jobId);
}

/**
 * Each part has its own directory (disk, console, seq, record): part 0 is the job's directory as
 * always, part i is <jobId>_p<i>, so hosts sharing one state directory (the sandbox) never collide.
 */
export function findPartJobDir(stateDir: string, jobId: string, part: number): string {
  return join(stateDir, 'jobs', `${jobId}${formatPartSuffix(part)}`);
}

// The directory a record lives in; records without a part are single-node VEs (part 0).
export function findRecordJobDir(stateDir: string, record: Pick<VeJobRecord, 'jobId' | 'part'>): string {
  return findPartJobDir(stateDir, record.jobId, record.part ?? 0);
}

/**
 * A job directory is 0711: its owner (the job body, ve console) opens the record, refusal and console log
 * by name; nobody else can list it, and its disks (0600) and LXC rootfs (below a 0700 directory) are root's.
 */
export function ensureJobDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  // <stateDir>/jobs/<name>: mkdir under TORQUE's umask 077 leaves the two above 0700; they only gain the
  // search bit, nothing else of their mode changes (never a sticky /tmp made 0755)
  for (const parent of [dirname(dir), dirname(dirname(dir))]) {
    const mode = statSync(parent).mode & 0o7777;
    if ((mode & 0o011) !== 0o011) chmodSync(parent, mode | 0o011);
  }
  return dir;
}

// Written by root, readable by all: it holds no secret and the job body runs as the owner.
export function writeVeJobRecord(stateDir: string, record: VeJobRecord): void {
  const dir = ensureJobDir(findRecordJobDir(stateDir, record));
  const file = findVeJobFile(dir, 'record');
  writeFileNoFollow(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

// undefined = this host never realized a VE for the job: not a VE job, or not ours.
export function readVeJobRecord(stateDir: string, jobId: string): VeJobRecord | undefined {
  let raw: string;
  try {
    raw = readFileSync(findVeJobFile(findJobDir(stateDir, jobId), 'record'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(raw) as VeJobRecord;
  } catch (err) {
    throw new VeError('corrupt-job-record', 'environment', `job ${jobId}: ve.json is not valid JSON`, { cause: err });
  }
}

/**
 * The record of the part this host realized: part 0 (every single-node VE, old records included) or a
 * <jobId>_p<i> directory, whichever names this host. undefined = this host realized nothing for the job.
 */
export function readHostVeJobRecord(stateDir: string, jobId: string, host: string): VeJobRecord | undefined {
  const first = readVeJobRecord(stateDir, jobId);
  if (first?.host === host) return first;
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'jobs')).filter((n) => n.startsWith(`${jobId}_p`) && /^[1-9][0-9]{0,3}$/.test(n.slice(jobId.length + 2)));
  } catch {
    return first;
  }
  for (const name of names) {
    const record = readVeJobRecord(stateDir, name);
    if (record?.host === host && record.jobId === jobId) return record;
  }
  return first;
}

// A refused VE job (bad spec) must still tell its owner why: the job body prints this and ends.
export function writeVeRefusal(stateDir: string, jobId: string, reason: string): void {
  const dir = ensureJobDir(findJobDir(stateDir, jobId));
  writeFileNoFollow(findVeJobFile(dir, 'refusal'), `${reason}\n`, { mode: 0o644 });
}

export function readVeRefusal(stateDir: string, jobId: string): string | undefined {
  try {
    return readFileSync(findVeJobFile(findJobDir(stateDir, jobId), 'refusal'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The job body's channel (docs/design.md "The job body and the host watcher"): a FIFO the body (the owner)
 * holds open while it waits, and the answer file root writes when the VE ends. Made only once the VE runs,
 * so its presence means "a VE was realized here in this start"; an answer of an earlier start goes first.
 */
export async function openJobBodyChannel(jobDir: string, owner: UserIds, run: RunCommand): Promise<void> {
  removeJobBodyChannel(jobDir);
  const fifo = findVeJobFile(jobDir, 'bodyFifo');
  const r = await run('mkfifo', ['-m', '0600', fifo], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new VeError('job-body-channel-failed', 'environment', `mkfifo ${fifo}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  // a FIFO opened for reading without a writer does not block with O_NONBLOCK; O_NOFOLLOW: never chown through a link
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

// No error when there is none: undoing a start that never got this far.
export function removeJobBodyChannel(jobDir: string): void {
  rmSync(findVeJobFile(jobDir, 'bodyEnd'), { force: true });
  rmSync(findVeJobFile(jobDir, 'bodyFifo'), { force: true });
}

export function hasJobBodyChannel(jobDir: string): boolean {
  try {
    return statSync(findVeJobFile(jobDir, 'bodyFifo')).isFIFO();
  } catch {
    return false;
  }
}

/** undefined = not answered yet */
export function readJobBodyAnswer(jobDir: string): { readonly exitCode: number; readonly message: string } | undefined {
  let text: string;
  try {
    text = readFileSync(findVeJobFile(jobDir, 'bodyEnd'), 'utf8');
  } catch {
    return undefined;
  }
  const [code, ...rest] = text.split('\n');
  if (code === undefined || !/^[0-9]{1,3}$/.test(code)) return undefined;
  return { exitCode: Number(code), message: rest.join('\n').trim() };
}

/**
 * Ends the job: the answer first (the exit code on the first line, then what the owner reads in the job's
 * output), then one byte into the FIFO to wake the body. A body not waiting yet reads the answer when it
 * starts; ENXIO (nobody holds the FIFO) is that case, not an error.
 */
export function answerJobBody(jobDir: string, exitCode: number, message: string): void {
  writeFileNoFollow(findVeJobFile(jobDir, 'bodyEnd'), `${String(exitCode)}\n${message.replace(/\n+$/, '')}\n`, { mode: 0o644 });
  let fd: number;
  try {
    fd = openSync(findVeJobFile(jobDir, 'bodyFifo'), constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return;
  }
  try {
    // the owner cannot swap the FIFO (the directory is root's), but a write never goes to anything else
    if (fstatSync(fd).isFIFO()) writeSync(fd, '\n');
  } catch {
    // a full pipe already holds a wake-up
  } finally {
    closeSync(fd);
  }
}

/** the job directories of this host's state directory, by name (<jobId> or <jobId>_p<i>) */
export function listVeJobDirNames(stateDir: string): string[] {
  try {
    return readdirSync(join(stateDir, 'jobs'));
  } catch {
    return [];
  }
}
