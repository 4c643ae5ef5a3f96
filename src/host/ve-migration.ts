// Moving a VE between two hosts (ve migrate): the source host publishes what moves (a manifest, and for a
// cold move a tar of the VE's files) in a libvirt storage pool of its own libvirtd; the destination host's
// prologue reads them through that libvirtd, the one channel between hosts that live migration needs anyway.
import { chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { runVirsh } from '../virt/run-virsh.js';
import { findOutgoingDir, findOutgoingFile, findVeJobFile, VE_MOVABLE_ENTRIES, type VeMigration } from './ve-job-record.js';
import { shiftTreeOwnership } from './shift-tree-ownership.js';
import { findRootfsDir } from './ve-disks.js';
import { findSnapshotDir } from './ve-snapshots.js';
import type { LxcIdMap } from '../virt/domain-spec.js';
import type { MigrationConfig } from '../config/pbs-ve-config.js';
import type { VeType } from '../core/ve-type.js';

/** the transient pool each host's libvirtd shows its outgoing migrations in */
export const OUTGOING_POOL = 'pbsve-outgoing';
/** a cold move's tar may be large: copying it, in either direction */
const BUNDLE_TIMEOUT_MS = 30 * 60_000;
/** a live migration with its disks (copied block by block while the guest runs) */
const LIVE_TIMEOUT_MS = 30 * 60_000;
const DATA_DISK = /^data-[0-9]+\.qcow2$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the source host says moves where; the destination acts only on a manifest that names its job and itself. */
export interface VeMoveManifest extends VeMigration {
  readonly v: 1;
  readonly jobId: string;
  readonly domain: string;
  readonly type: VeType;
  /** LXC: the host ids the files in the tar belong to on the source (shifted to the destination's own) */
  readonly lxcIdMap?: LxcIdMap;
  /** QEMU: libvirt's snapshot definitions, oldest first, to be redefined on the destination */
  readonly snapshotXmls: readonly string[];
  /** QEMU live: the domain's UUID, which the destination definition must keep */
  readonly uuid?: string;
}

// "%h" is the other host: one configured template serves every pair of hosts.
export function buildPeerUri(migration: MigrationConfig, type: VeType, host: string): string {
  return (type === 'lxc' ? migration.peerLxcUri : migration.peerQemuUri).replaceAll('%h', host);
}

async function virshOrThrow(uri: string, command: string, options: readonly string[], operands: readonly string[], code: string): Promise<string> {
  const r = await runVirsh(uri, command, options, operands);
  if (!r.ok) throw new VeError(code, 'environment', `virsh ${command} (${uri}): ${r.message}`);
  return r.stdout;
}

// A failure to reach the destination's libvirtd refuses the move before anything is touched.
export async function checkPeerReachable(uri: string, host: string): Promise<void> {
  const r = await runVirsh(uri, 'uri', [], []);
  if (!r.ok) throw new VeError('migration-peer-unreachable', 'prereq', `to: cannot reach the libvirtd of ${host} (${uri}): ${r.message}`, { field: 'to' });
}

// The pool is transient (gone when libvirtd restarts): made again whenever a move is published.
async function ensureOutgoingPool(localUri: string, stateDir: string): Promise<void> {
  const dir = findOutgoingDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const info = await runVirsh(localUri, 'pool-info', [], [OUTGOING_POOL]);
  if (!info.ok) await virshOrThrow(localUri, 'pool-create-as', ['--name', OUTGOING_POOL, '--type', 'dir', '--target', dir], [], 'migration-publish-failed');
  else await virshOrThrow(localUri, 'pool-refresh', [], [OUTGOING_POOL], 'migration-publish-failed');
}

// The files a cold move carries, as they are named in the job directory (data disks by their numbered names).
async function listMovableEntries(jobDir: string): Promise<string[]> {
  const names = await readdir(jobDir).catch(() => [] as string[]);
  return names.filter((n) => (VE_MOVABLE_ENTRIES as readonly string[]).includes(n) || DATA_DISK.test(n)).sort();
}

/**
 * Source side: packs a stopped VE's files (cold) and publishes the manifest. Numeric owners and sparse
 * files are kept; the destination shifts an LXC tree's owners to its own id slot.
 */
export async function publishVeMove(manifest: VeMoveManifest, jobDir: string, stateDir: string, localUri: string, run: RunCommand = runCommand): Promise<void> {
  await ensureOutgoingPool(localUri, stateDir);
  const bundle = findOutgoingFile(stateDir, manifest.jobId, 'bundle');
  await rm(bundle, { force: true });
  if (!manifest.live) {
    const entries = await listMovableEntries(jobDir);
    const r = await run('tar', ['--create', '--file', bundle, '--numeric-owner', '--xattrs', '--sparse', '-C', jobDir, '--', ...entries], { timeoutMs: BUNDLE_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new VeError('migration-pack-failed', 'environment', `packing the VE's files: ${r.stderr.trim()}`);
    await chmod(bundle, 0o600);
  }
  await writeFile(findOutgoingFile(stateDir, manifest.jobId, 'manifest'), `${JSON.stringify(manifest)}\n`, { mode: 0o600 });
  await virshOrThrow(localUri, 'pool-refresh', [], [OUTGOING_POOL], 'migration-publish-failed');
}

// Source side: a move that is over (or given up) leaves nothing in the outgoing pool.
export async function removeOutgoingMove(stateDir: string, jobId: string): Promise<void> {
  await rm(findOutgoingFile(stateDir, jobId, 'manifest'), { force: true });
  await rm(findOutgoingFile(stateDir, jobId, 'bundle'), { force: true });
}

// Only a manifest of this very job, naming this host as its destination, is acted on.
export function checkMoveManifest(raw: unknown, jobId: string, host: string): VeMoveManifest {
  const m = raw as Partial<VeMoveManifest> | null;
  if (m === null || typeof m !== 'object' || m.v !== 1 || m.jobId !== jobId || m.to !== host || typeof m.from !== 'string' || typeof m.live !== 'boolean'
    || (m.type !== 'lxc' && m.type !== 'kvm') || typeof m.domain !== 'string' || !Array.isArray(m.snapshotXmls) || (m.uuid !== undefined && !UUID.test(m.uuid))) {
    throw new VeError('migration-manifest-invalid', 'environment', `job ${jobId}: the source host's migration manifest does not name this job and host (${host})`);
  }
  return m as VeMoveManifest;
}

/**
 * Destination side: the source host's manifest for this job, read through its libvirtd; undefined when that
 * host publishes none (a plain requeue, not a move).
 */
export async function findIncomingMove(peerUri: string, jobId: string, host: string, scratchDir: string): Promise<VeMoveManifest | undefined> {
  const refreshed = await runVirsh(peerUri, 'pool-refresh', [], [OUTGOING_POOL]);
  if (!refreshed.ok) return undefined;
  const file = join(scratchDir, `.move-${jobId}.json`);
  const r = await runVirsh(peerUri, 'vol-download', ['--pool', OUTGOING_POOL], [`${jobId}.json`, file]);
  if (!r.ok) return undefined;
  try {
    return checkMoveManifest(JSON.parse(await readFile(file, 'utf8')) as unknown, jobId, host);
  } finally {
    await rm(file, { force: true });
  }
}

/** Destination side: fetches and unpacks a cold move's files into the job directory, owners shifted to this host's slot. */
export async function receiveColdMove(peerUri: string, manifest: VeMoveManifest, jobDir: string, idMap: LxcIdMap | undefined, run: RunCommand = runCommand): Promise<void> {
  const tarPath = findVeJobFile(jobDir, 'incoming');
  try {
    const dl = await run('virsh', ['-q', '-c', peerUri, 'vol-download', '--pool', OUTGOING_POOL, '--sparse', '--', `${manifest.jobId}.tar`, tarPath], { timeoutMs: BUNDLE_TIMEOUT_MS });
    if (dl.exitCode !== 0) throw new VeError('migration-fetch-failed', 'environment', `fetching the VE's files from ${manifest.from}: ${dl.stderr.trim()}`);
    const x = await run('tar', ['--extract', '--file', tarPath, '--numeric-owner', '--xattrs', '--same-permissions', '-C', jobDir], { timeoutMs: BUNDLE_TIMEOUT_MS });
    if (x.exitCode !== 0) throw new VeError('migration-unpack-failed', 'environment', `unpacking the VE's files: ${x.stderr.trim()}`);
  } finally {
    await rm(tarPath, { force: true });
  }
  if (manifest.type === 'lxc' && idMap !== undefined && manifest.lxcIdMap !== undefined && manifest.lxcIdMap.target !== idMap.target) {
    const rootfs = findRootfsDir(jobDir);
    await shiftTreeOwnership(rootfs, idMap, manifest.lxcIdMap.target);
    // private/ (0700) belongs to the container's root, as the prologue leaves it for a fresh copy
    const top = await stat(rootfs);
    await chown(join(rootfs, '..'), top.uid, top.gid);
    const snapshots = findSnapshotDir(jobDir);
    for (const name of await readdir(snapshots).catch(() => [] as string[])) await shiftTreeOwnership(join(snapshots, name), idMap, manifest.lxcIdMap.target);
  }
}

// Destination side: the moved files are in place; the source may forget them.
export async function forgetOutgoingMove(peerUri: string, jobId: string, log: (line: string) => void): Promise<void> {
  for (const vol of [`${jobId}.tar`, `${jobId}.json`]) {
    const r = await runVirsh(peerUri, 'vol-delete', ['--pool', OUTGOING_POOL], [vol]);
    if (!r.ok && !/not found|no storage vol/i.test(r.message)) log(`pbs-ve: job ${jobId}: removing ${vol} on the source host: ${r.message}`);
  }
}

/**
 * Destination side, QEMU live: the source's libvirtd sends the running guest (memory, then the disks' top
 * layers over NBD) to this host's libvirtd, defined here with this host's own domain XML (its disk paths,
 * console log, NIC devices); the source's definition goes. virsh drives both daemons as a client.
 */
export async function migrateLiveDomain(input: { readonly peerUri: string; readonly localUri: string; readonly domain: string; readonly xmlPath: string; readonly address: string }, run: RunCommand = runCommand): Promise<number> {
  const started = Date.now();
  const r = await run('virsh', [
    '-q', '-c', input.peerUri, 'migrate', '--live', '--persistent', '--undefinesource', '--copy-storage-inc', '--xml', input.xmlPath,
    '--migrateuri', `tcp://${input.address}`, '--', input.domain, input.localUri,
  ], { timeoutMs: LIVE_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new VeError('migration-failed', 'environment', `live migration of ${input.domain}: ${r.stderr.replace(/^error: /gm, '').trim()}`);
  return Date.now() - started;
}

// A live migration keeps the domain's identity: the destination definition carries the source's UUID.
export async function readDomainUuid(uri: string, domain: string): Promise<string> {
  const out = (await virshOrThrow(uri, 'domuuid', [], [domain], 'migration-failed')).trim();
  if (!UUID.test(out)) throw new VeError('migration-failed', 'environment', `domain ${domain}: libvirt gave no UUID (${out.slice(0, 60)})`);
  return out;
}

/** the domain XML with the UUID set, right after its name (our XML never carries one of its own) */
export function addDomainUuid(xml: string, uuid: string): string {
  if (!UUID.test(uuid)) throw new VeError('migration-failed', 'environment', `not a UUID: ${uuid.slice(0, 60)}`);
  const at = xml.indexOf('</name>');
  if (at < 0 || xml.includes('<uuid>')) throw new VeError('migration-failed', 'environment', 'domain XML: no <name> to put the UUID after, or a UUID already');
  return `${xml.slice(0, at + 7)}<uuid>${uuid}</uuid>${xml.slice(at + 7)}`;
}

// QEMU: libvirt forgets snapshot definitions with the domain; the snapshots themselves travel inside the qcow2.
export async function readSnapshotXmls(uri: string, domain: string, names: readonly string[]): Promise<string[]> {
  const xmls: string[] = [];
  for (const name of names) xmls.push(await virshOrThrow(uri, 'snapshot-dumpxml', ['--security-info'], [domain, name], 'migration-pack-failed'));
  return xmls;
}

export async function redefineSnapshots(uri: string, domain: string, xmls: readonly string[], jobDir: string, log: (line: string) => void): Promise<void> {
  for (const [i, xml] of xmls.entries()) {
    const file = join(jobDir, `.snapshot-${i}.xml`);
    await writeFile(file, xml, { mode: 0o600 });
    const r = await runVirsh(uri, 'snapshot-create', ['--redefine', '--xmlfile', file, ...(i === xmls.length - 1 ? ['--current'] : [])], [domain]);
    await rm(file, { force: true });
    if (!r.ok) log(`pbs-ve: ${domain}: snapshot definition ${i + 1} not redefined after the move: ${r.message}`);
  }
}

// The overlay's backing file is the catalog image, where this host keeps it.
export async function rebaseOverlay(diskPath: string, imagePath: string, imageFormat: string, run: RunCommand = runCommand): Promise<void> {
  const r = await run('qemu-img', ['rebase', '-u', '-b', imagePath, '-F', imageFormat, '-f', 'qcow2', diskPath], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new VeError('migration-unpack-failed', 'environment', `qemu-img rebase of the moved disk: ${r.stderr.trim()}`);
}
