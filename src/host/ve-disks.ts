import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { ImageManifest } from '../images/image-manifest.js';

/** The per-VE disk made from a catalog image: a copied rootfs tree (LXC) or a qcow2 overlay (QEMU). */
export interface PreparedDisk {
  readonly rootfsDir: string | undefined;
  readonly diskPath: string | undefined;
}

export interface VeDisks {
  prepare(image: ImageManifest, jobDir: string): Promise<PreparedDisk>;
  /** no error when nothing is there */
  remove(jobDir: string): Promise<void>;
}

// Copy-on-write where the format allows it, a plain copy of the (small) rootfs tree otherwise.
export function createLocalVeDisks(run: RunCommand = runCommand): VeDisks {
  return {
    async prepare(image, jobDir) {
      if (image.format === 'dir') {
        const rootfsDir = join(jobDir, 'rootfs');
        await rm(rootfsDir, { recursive: true, force: true });
        const r = await run('cp', ['-a', '--reflink=auto', '--', image.path, rootfsDir], { timeoutMs: 120_000 });
        if (r.exitCode !== 0) throw new VeError('disk-prepare-failed', 'environment', `copying image ${image.name}: ${r.stderr.trim()}`);
        return { rootfsDir, diskPath: undefined };
      }
      const diskPath = join(jobDir, 'disk.qcow2');
      const r = await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.path, '-F', image.format, diskPath], { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new VeError('disk-prepare-failed', 'environment', `qemu-img overlay on ${image.name}: ${r.stderr.trim()}`);
      return { rootfsDir: undefined, diskPath };
    },
    async remove(jobDir) {
      await rm(join(jobDir, 'rootfs'), { recursive: true, force: true });
      await rm(join(jobDir, 'disk.qcow2'), { force: true });
    },
  };
}
