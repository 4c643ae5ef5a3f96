import { chmod, chown, copyFile, lstat, mkdir, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { makeReadableDir } from './make-readable-dir.js';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { ImageManifest } from '../images/image-manifest.js';
import type { UserIds } from './find-user-ids.js';
import { removeVeSeed } from './ve-seed.js';
import { shiftTreeOwnership } from './shift-tree-ownership.js';
import type { LxcIdMap } from '../virt/domain-spec.js';

/** The per-VE disks made from a catalog image: a copied rootfs tree (LXC) or a qcow2 overlay (QEMU), plus data disks. */
export interface PreparedDisk {
  readonly rootfsDir: string | undefined;
  readonly diskPath: string | undefined;
  /** empty qcow2 data disks in spec order (guest vdb, vdc, ...) */
  readonly dataDisks: readonly string[];
}

export interface VeDisks {
  /** refuses (VeError disk-space, prereq) before anything is created when the file system lacks the room */
  checkSpace(image: ImageManifest, dataDisksMiB: readonly number[], jobsDir: string): Promise<void>;
  /** idMap (LXC): the rootfs copy is owned by the container's mapped ids, not by the host's root */
  prepare(image: ImageManifest, jobDir: string, dataDisksMiB?: readonly number[], idMap?: LxcIdMap): Promise<PreparedDisk>;
  /** the overlay or rootfs copy, the data disks and the cloud-init seed; no error when nothing is there */
  remove(jobDir: string): Promise<void>;
  /** moves the data disks into keptDir (created fresh), owned by the owner; returns the kept paths */
  keepDataDisks(jobDir: string, keptDir: string, owner: UserIds): Promise<string[]>;
}

const MIB = 1024 * 1024;
/** room left over after the VE's disks, for the console log, journal and job records */
const SPACE_MARGIN_MIB = 64;
const DATA_DISK = /^data-[0-9]+\.qcow2$/;

/**
 * An LXC VE's root file system: <jobDir>/private/rootfs. The job directory is 0711 (the owner reaches
 * the console log and record by name); private/ is 0700, owned by whoever owns the rootfs (root, or the
 * container's mapped root with a user namespace), so no other user of the host can reach into the
 * container's files (its /tmp is 1777) while the container itself still can.
 */
export function findRootfsDir(jobDir: string): string {
  return join(jobDir, 'private', 'rootfs');
}

/** data-1.qcow2 is the first data disk (vdb): the name says the order, the order says the device */
export function buildDataDiskPath(jobDir: string, index: number): string {
  return join(jobDir, `data-${index + 1}.qcow2`);
}

// The most an image copy or overlay can take: the tree's size, or the disk's virtual size (the overlay may grow to it).
async function measureImageMiB(image: ImageManifest, run: RunCommand): Promise<number> {
  if (image.format === 'dir') {
    const r = await run('du', ['-s', '-B1', '--one-file-system', '--', image.path], { timeoutMs: 60_000 });
    const bytes = Number(r.stdout.split('\t')[0]);
    if (r.exitCode !== 0 || !Number.isFinite(bytes)) throw new VeError('image-unreadable', 'environment', `image ${image.name}: du failed: ${r.stderr.trim()}`);
    return Math.ceil(bytes / MIB);
  }
  const r = await run('qemu-img', ['info', '--output=json', '-f', image.format, '--', image.path], { timeoutMs: 30_000 });
  let size: unknown;
  try {
    size = (JSON.parse(r.stdout) as { 'virtual-size'?: unknown })['virtual-size'];
  } catch {
    size = undefined;
  }
  if (r.exitCode !== 0 || typeof size !== 'number') throw new VeError('image-unreadable', 'environment', `image ${image.name}: qemu-img info failed: ${r.stderr.trim()}`);
  return Math.ceil(size / MIB);
}

// rename where possible; kept disks may live on another file system than the job dir
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

/**
 * libvirt_lxc pivots into the rootfs as the container's mapped root, an id with no rights on the host:
 * every directory above the rootfs must let others search it, or the start fails with an obscure
 * "Failed to create <rootfs>/.oldroot: Permission denied". Said here, before anything is copied.
 */
async function checkSearchableByOthers(dir: string): Promise<void> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) {
      throw new VeError('rootfs-unreachable', 'environment', `${d} (mode ${(st.mode & 0o7777).toString(8)}) is not searchable by others: an LXC container's mapped root cannot reach its rootfs below it; give it o+x (0711)`);
    }
    if (d === dirname(d)) return;
  }
}

// A catalog tree others can reach is closed (0700) before it is copied; the admin's files keep their other modes.
async function closeCatalogTree(path: string): Promise<void> {
  const st = await lstat(path);
  if (st.isDirectory() && (st.mode & 0o077) !== 0) await chmod(path, 0o700);
}

// Copy-on-write where the format allows it, a plain copy of the (small) rootfs tree otherwise.
export function createLocalVeDisks(run: RunCommand = runCommand): VeDisks {
  return {
    async checkSpace(image, dataDisksMiB, jobsDir) {
      const neededMiB = (await measureImageMiB(image, run)) + dataDisksMiB.reduce((a, b) => a + b, 0) + SPACE_MARGIN_MIB;
      let freeMiB: number;
      let totalMiB: number;
      try {
        // a freshly installed host has no jobs directory yet; it is ours to create (jobsDir is <stateDir>/jobs),
        // enterable by QEMU's user and the job owner whatever the hook's umask
        makeReadableDir(dirname(jobsDir), jobsDir);
        const s = await statfs(jobsDir);
        freeMiB = Math.floor((s.bavail * s.bsize) / MIB);
        totalMiB = Math.floor((s.blocks * s.bsize) / MIB);
      } catch (err) {
        throw new VeError('disk-space-unknown', 'environment', `statfs ${jobsDir}: ${(err as Error).message}`, { cause: err });
      }
      if (neededMiB > freeMiB) {
        // a request is refused, never a host drained: the next, smaller request may fit
        throw new VeError('disk-space', 'prereq', `disk: the VE needs ${neededMiB} MiB (image and data disks), this host has ${freeMiB} MiB free of ${totalMiB} MiB`, {
          field: 'disk', details: { neededMiB, freeMiB, totalMiB },
        });
      }
    },
    async prepare(image, jobDir, dataDisksMiB = [], idMap?: LxcIdMap) {
      let rootfsDir: string | undefined;
      let diskPath: string | undefined;
      if (image.format === 'dir') {
        rootfsDir = findRootfsDir(jobDir);
        if (idMap !== undefined) await checkSearchableByOthers(jobDir);
        await rm(rootfsDir, { recursive: true, force: true });
        await mkdir(join(rootfsDir, '..'), { recursive: true, mode: 0o700 });
        await chmod(join(rootfsDir, '..'), 0o700);
        // the catalog's tree is root's alone (0700, a planted file in its /tmp would reach every VE made from it)
        await closeCatalogTree(image.path);
        const r = await run('cp', ['-a', '--reflink=auto', '--', image.path, rootfsDir], { timeoutMs: 120_000 });
        if (r.exitCode !== 0) throw new VeError('disk-prepare-failed', 'environment', `copying image ${image.name}: ${r.stderr.trim()}`);
        if (idMap !== undefined) await shiftTreeOwnership(rootfsDir, idMap);
        // the copy's top is the container's "/": searchable inside, as images are; private/ (0700) belongs to
        // the rootfs's owner, the VE's mapped root in a user namespace, so only it and root get through
        await chmod(rootfsDir, 0o755);
        const top = await stat(rootfsDir);
        await chown(join(rootfsDir, '..'), top.uid, top.gid);
      } else {
        diskPath = join(jobDir, 'disk.qcow2');
        const r = await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.path, '-F', image.format, diskPath], { timeoutMs: 60_000 });
        if (r.exitCode !== 0) throw new VeError('disk-prepare-failed', 'environment', `qemu-img overlay on ${image.name}: ${r.stderr.trim()}`);
        // the VE's disk is its data: root (and QEMU) only
        await chmod(diskPath, 0o600);
      }
      const dataDisks: string[] = [];
      for (const [i, mib] of dataDisksMiB.entries()) {
        const path = buildDataDiskPath(jobDir, i);
        const r = await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${mib}M`], { timeoutMs: 60_000 });
        if (r.exitCode !== 0) throw new VeError('disk-prepare-failed', 'environment', `qemu-img data disk ${i + 1} (${mib} MiB): ${r.stderr.trim()}`);
        await chmod(path, 0o600);
        dataDisks.push(path);
      }
      return { rootfsDir, diskPath, dataDisks };
    },
    async remove(jobDir) {
      await rm(join(jobDir, 'private'), { recursive: true, force: true });
      // VEs made before the rootfs moved below private/
      await rm(join(jobDir, 'rootfs'), { recursive: true, force: true });
      await rm(join(jobDir, 'disk.qcow2'), { force: true });
      const names = await readdir(jobDir).catch(() => [] as string[]);
      for (const name of names.filter((n) => DATA_DISK.test(n))) await rm(join(jobDir, name), { force: true });
      await removeVeSeed(jobDir);
    },
    async keepDataDisks(jobDir, keptDir, owner) {
      const names = (await readdir(jobDir).catch(() => [] as string[])).filter((n) => DATA_DISK.test(n)).sort();
      if (names.length === 0) return [];
      // parents are root's (0711): the owner can reach but not replace them with links while root moves files
      await mkdir(join(keptDir, '..'), { recursive: true, mode: 0o711 });
      // set, not asked of mkdir: under TORQUE's umask 077 they would be 0700 and the owner locked out
      await chmod(join(keptDir, '..', '..'), 0o711);
      await chmod(join(keptDir, '..'), 0o711);
      await mkdir(keptDir, { mode: 0o700 });
      const kept: string[] = [];
      for (const name of names) {
        const to = join(keptDir, name);
        await moveFile(join(jobDir, name), to);
        await chown(to, owner.uid, owner.gid);
        await chmod(to, 0o600);
        kept.push(to);
      }
      await chown(keptDir, owner.uid, owner.gid);
      return kept;
    },
  };
}
