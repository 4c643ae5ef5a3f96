import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { CloudInitSeed } from '../core/build-cloud-init-seed.js';

/** the NoCloud volume label cloud-init looks for */
export const SEED_VOLUME_ID = 'cidata';

/** the VE's seed image, next to its disks in the job dir (removed with them) */
export function buildSeedPath(jobDir: string): string {
  return join(jobDir, 'seed.iso');
}

const stagingDir = (jobDir: string): string => join(jobDir, 'seed');

/** Writes the seed as an ISO 9660 image labelled cidata; returns its path. */
export type WriteVeSeed = (jobDir: string, seed: CloudInitSeed) => Promise<string>;

// genisoimage (Debian package genisoimage) rather than cloud-localds: cloud-localds is a shell script
// around the same genisoimage call that drags in wget, qemu-utils and python; we need two files on an ISO.
export function createVeSeedWriter(run: RunCommand = runCommand): WriteVeSeed {
  return async (jobDir, seed) => {
    const staging = stagingDir(jobDir);
    const iso = buildSeedPath(jobDir);
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { mode: 0o700 });
    try {
      await writeFile(join(staging, 'meta-data'), seed.metaData, { mode: 0o644 });
      await writeFile(join(staging, 'user-data'), seed.userData, { mode: 0o644 });
      if (seed.networkConfig !== undefined) await writeFile(join(staging, 'network-config'), seed.networkConfig, { mode: 0o644 });
      const r = await run('genisoimage', [
        '-quiet', '-input-charset', 'utf-8', '-output', iso, '-volid', SEED_VOLUME_ID, '-joliet', '-rock',
        join(staging, 'user-data'), join(staging, 'meta-data'), ...(seed.networkConfig === undefined ? [] : [join(staging, 'network-config')]),
      ], { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new VeError('seed-build-failed', 'environment', `genisoimage (cloud-init seed): ${r.stderr.trim() || `exit ${r.exitCode}`}`);
      // the seed names the owner's keys and host: root (and QEMU) only, like the VE's disks
      await chmod(iso, 0o600);
    } catch (err) {
      await rm(iso, { force: true });
      throw err;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    return iso;
  };
}

// The epilogue and the prologue's undo path: no error when there is nothing.
export async function removeVeSeed(jobDir: string): Promise<void> {
  await rm(stagingDir(jobDir), { recursive: true, force: true });
  await rm(buildSeedPath(jobDir), { force: true });
}
