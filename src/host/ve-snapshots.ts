// Snapshots of a running VE, kept with it in its job dir: QEMU internal qcow2 snapshots, LXC rootfs copies.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { mkdir, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { findRootfsDir } from './ve-disks.js';
import { VeError, invalidField } from '../core/ve-error.js';
import { SNAPSHOT_NAME, validateSnapshotName } from '../operations/encode-ve-operation.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { runVirsh } from '../virt/run-virsh.js';
import { createDomainSnapshots, type DomainSnapshots } from '../virt/virsh-snapshots.js';
import type { VeConsole } from './ve-console.js';
import { findVeJobFile, findJobDir, writeVeJobRecord, type VeJobRecord } from './ve-job-record.js';
import type { Virt } from '../virt/virt.js';
import type { VeSnapshotInfo } from '../operations/ve-operation-result.js';
import type { UserIds } from './find-user-ids.js';

export type VeSnapshot = VeSnapshotInfo;

export interface VeSnapshotDeps {
  readonly stateDir: string;
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly console: VeConsole;
  readonly log: (line: string) => void;
  readonly startTimeoutMs: number;
  readonly now: () => Date;
  /** the owner's ids, for the restarted LXC console capture */
  readonly owner: UserIds;
  readonly run?: RunCommand;
  readonly domainSnapshots?: (uri: string) => DomainSnapshots;
}

/** bounds the disk a VE's snapshots can take: copies of an LXC rootfs, RAM images in qcow2 */
export const MAX_SNAPSHOTS = 16;
const MIB = 1024 * 1024;
const SPACE_MARGIN_MIB = 64;
const COPY_TIMEOUT_MS = 300_000;

export function findSnapshotDir(jobDir: string): string {
  return findVeJobFile(jobDir, 'snapshots');
}

const indexPath = (jobDir: string): string => join(jobDir, 'snapshots.json');

// The index is root's record of what was taken when; libvirt and the copies are the data.
export function readSnapshotIndex(stateDir: string, jobId: string): VeSnapshot[] {
  let raw: string;
  try {
    raw = readFileSync(indexPath(findJobDir(stateDir, jobId)), 'utf8');
  } catch {
    return [];
  }
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? (parsed as VeSnapshot[]) : [];
  } catch (err) {
    throw new VeError('corrupt-snapshot-index', 'environment', `job ${jobId}: snapshots.json is not valid JSON`, { cause: err });
  }
}

function writeSnapshotIndex(jobDir: string, snapshots: readonly VeSnapshot[]): void {
  const file = indexPath(jobDir);
  writeFileNoFollow(file, `${JSON.stringify(snapshots, null, 2)}\n`, { mode: 0o644 });
}

// cp -a keeps owners, modes and devices of the container's files; reflink makes it cheap where the fs can.
async function copyTree(run: RunCommand, from: string, to: string, what: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  const r = await run('cp', ['-a', '--reflink=auto', '--', from, to], { timeoutMs: COPY_TIMEOUT_MS });
  if (r.exitCode !== 0) {
    await rm(to, { recursive: true, force: true });
    throw new VeError('snapshot-copy-failed', 'exec', `${what}: ${r.stderr.trim() || `cp exited ${r.exitCode}`}`);
  }
}

// A copy that fills the disk would take the running VE's own writes down with it: refuse first.
async function checkCopySpace(run: RunCommand, tree: string, jobDir: string): Promise<void> {
  const r = await run('du', ['-s', '-B1', '--one-file-system', '--', tree], { timeoutMs: 60_000 });
  const bytes = Number(r.stdout.split('\t')[0]);
  if (r.exitCode !== 0 || !Number.isFinite(bytes)) throw new VeError('snapshot-copy-failed', 'exec', `du ${tree}: ${r.stderr.trim()}`);
  const s = await statfs(jobDir);
  const freeMiB = Math.floor((s.bavail * s.bsize) / MIB);
  const neededMiB = Math.ceil(bytes / MIB) + SPACE_MARGIN_MIB;
  if (neededMiB > freeMiB) {
    throw new VeError('disk-space', 'prereq', `snapshot: the rootfs copy needs ${neededMiB} MiB, this host has ${freeMiB} MiB free`, { field: 'snapshot', details: { neededMiB, freeMiB } });
  }
}

// Freezing the container makes its copy consistent; where the freezer is unavailable the copy is only crash-consistent.
async function freezeLxc(record: VeJobRecord, deps: VeSnapshotDeps): Promise<() => Promise<void>> {
  const r = await runVirsh(record.uri, 'suspend', [], [record.domain]);
  if (!r.ok) {
    deps.log(`job ${record.jobId}: could not freeze ${record.domain} for its snapshot (${r.message}); copying it live`);
    return () => Promise.resolve();
  }
  return async () => {
    const resumed = await runVirsh(record.uri, 'resume', [], [record.domain]);
    if (!resumed.ok) throw new VeError('virt-failed', 'exec', `libvirt resume ${record.domain} failed: ${resumed.message}`);
  };
}

/** Takes snapshot `name` of the running VE and records it; refuses a taken name or one too many. */
export async function takeVeSnapshot(record: VeJobRecord, rawName: string, deps: VeSnapshotDeps): Promise<VeSnapshot> {
  const name = validateSnapshotName(rawName);
  const run = deps.run ?? runCommand;
  const jobDir = findJobDir(deps.stateDir, record.jobId);
  const existing = readSnapshotIndex(deps.stateDir, record.jobId);
  if (existing.some((s) => s.name === name)) throw invalidField('snapshot', `VE ${record.spec.name} already has a snapshot named "${name}"`, name);
  if (existing.length >= MAX_SNAPSHOTS) throw invalidField('snapshot', `VE ${record.spec.name} has ${MAX_SNAPSHOTS} snapshots already, the most it may keep`);
  const started = Date.now();
  let kind: VeSnapshot['kind'];
  if (record.spec.type === 'kvm') {
    kind = 'qemu-internal';
    await (deps.domainSnapshots ?? createDomainSnapshots)(record.uri).create(record.domain, name);
  } else {
    kind = 'lxc-copy';
    const rootfs = findRootfsDir(jobDir);
    const dir = findSnapshotDir(jobDir);
    await checkCopySpace(run, rootfs, jobDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // a partial copy has a name no snapshot can have (names start with a letter or digit)
    const partial = join(dir, `.${name}.partial`);
    const thaw = await freezeLxc(record, deps);
    try {
      await copyTree(run, rootfs, partial, `snapshot ${name} of ${record.domain}`);
    } finally {
      await thaw();
    }
    await rename(partial, join(dir, name));
  }
  const snapshot: VeSnapshot = { name, kind, createdAt: deps.now().toISOString(), ms: Date.now() - started };
  writeSnapshotIndex(jobDir, [...existing, snapshot]);
  return snapshot;
}

// A QEMU revert keeps the domain running; an LXC rootfs can only be swapped while the container is down.
export async function rollbackVe(record: VeJobRecord, rawName: string, deps: VeSnapshotDeps): Promise<{ ms: number; downMs: number }> {
  const name = validateSnapshotName(rawName);
  const started = Date.now();
  if (!readSnapshotIndex(deps.stateDir, record.jobId).some((s) => s.name === name)) {
    throw invalidField('snapshot', `VE ${record.spec.name} has no snapshot named "${name}" (see ve snapshot list)`, name);
  }
  if (record.spec.type === 'kvm') {
    await (deps.domainSnapshots ?? createDomainSnapshots)(record.uri).revert(record.domain, name);
    return { ms: Date.now() - started, downMs: 0 };
  }
  const downMs = await rollbackLxc(record, name, deps);
  return { ms: Date.now() - started, downMs };
}

// The copy is made before the container stops, so it is down only for destroy, two renames and start.
async function rollbackLxc(record: VeJobRecord, name: string, deps: VeSnapshotDeps): Promise<number> {
  const run = deps.run ?? runCommand;
  const jobDir = findJobDir(deps.stateDir, record.jobId);
  const rootfs = findRootfsDir(jobDir);
  // beside the rootfs, below the same closed directory: never reachable by other users of the host
  const staged = `${rootfs}.rollback`;
  const old = `${rootfs}.old`;
  await checkCopySpace(run, join(findSnapshotDir(jobDir), name), jobDir);
  await copyTree(run, join(findSnapshotDir(jobDir), name), staged, `rollback copy of snapshot ${name}`);
  const virt = await deps.openVirt(record.uri);
  // the periodic host report skips a VE that is not 'realized': no "stopped" for this second
  writeVeJobRecord(deps.stateDir, { ...record, status: 'starting', reason: `rolling back to snapshot ${name}` });
  const down = Date.now();
  try {
    await virt.destroyDomain(record.domain);
    await rm(old, { recursive: true, force: true });
    await rename(rootfs, old);
    await rename(staged, rootfs);
    await virt.startDomain(record.domain);
    await virt.waitForState(record.domain, (s) => s === 'running', deps.startTimeoutMs);
    const downMs = Date.now() - down;
    return downMs;
  } catch (err) {
    await restoreLxc(record, virt, { rootfs, old, staged }, deps);
    throw err;
  } finally {
    writeVeJobRecord(deps.stateDir, { ...record, status: 'realized' });
    await virt.close();
    await rm(old, { recursive: true, force: true }).catch(() => undefined);
    await rm(staged, { recursive: true, force: true }).catch(() => undefined);
  }
}

// A failed rollback must leave the VE as it was, running on its own rootfs, where that is still possible.
async function restoreLxc(record: VeJobRecord, virt: Virt, paths: { rootfs: string; old: string; staged: string }, deps: VeSnapshotDeps): Promise<void> {
  try {
    if (existsSync(paths.old)) {
      await virt.destroyDomain(record.domain);
      await rm(paths.rootfs, { recursive: true, force: true });
      await rename(paths.old, paths.rootfs);
    }
    if ((await virt.getDomain(record.domain))?.state !== 'running') {
      await virt.startDomain(record.domain);
      await virt.waitForState(record.domain, (s) => s === 'running', deps.startTimeoutMs);
    }
  } catch (err) {
    deps.log(`job ${record.jobId}: restoring ${record.domain} after a failed rollback failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** With the VE: libvirt's snapshot metadata (before undefine, which refuses domains with snapshots) and the copies. */
export async function removeVeSnapshots(record: Pick<VeJobRecord, 'jobId' | 'uri' | 'domain' | 'spec'>, stateDir: string, domainSnapshots: (uri: string) => DomainSnapshots = createDomainSnapshots): Promise<void> {
  const jobDir = findJobDir(stateDir, record.jobId);
  if (record.spec.type === 'kvm') {
    const snapshots = domainSnapshots(record.uri);
    const names = await snapshots.list(record.domain).catch(() => [] as string[]);
    for (const name of names.filter((n) => SNAPSHOT_NAME.test(n))) await snapshots.forget(record.domain, name);
  }
  await rm(findSnapshotDir(jobDir), { recursive: true, force: true });
  await rm(`${findRootfsDir(jobDir)}.rollback`, { recursive: true, force: true });
  await rm(`${findRootfsDir(jobDir)}.old`, { recursive: true, force: true });
  await rm(indexPath(jobDir), { force: true });
}
