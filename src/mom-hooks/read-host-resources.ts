// The health hook's view of the host: free disk, available memory, directories (real adapters).
import { readFile, stat, statfs } from 'node:fs/promises';
import { VeError } from '../core/ve-error.js';

// statfs answers for the file system holding the path: what the per-VE disks will be written to.
export async function readFreeDiskMiB(path: string): Promise<number> {
  try {
    const s = await statfs(path);
    return Math.floor((s.bavail * s.bsize) / (1024 * 1024));
  } catch (err) {
    throw new VeError('host-statfs-failed', 'environment', `statfs ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

// MemAvailable is the kernel's own estimate of what a new guest can get without swapping.
export function parseMemAvailableMiB(meminfo: string): number {
  const match = /^MemAvailable:\s+([0-9]+)\s*kB$/m.exec(meminfo);
  if (match?.[1] === undefined) throw new VeError('host-meminfo-unreadable', 'environment', '/proc/meminfo has no MemAvailable line');
  return Math.floor(Number(match[1]) / 1024);
}

export async function readAvailableMemoryMiB(meminfoPath = '/proc/meminfo'): Promise<number> {
  return parseMemAvailableMiB(await readFile(meminfoPath, 'utf8'));
}

// A missing image store and a file in its place are the same fault for the prologue.
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw new VeError('host-stat-failed', 'environment', `stat ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
