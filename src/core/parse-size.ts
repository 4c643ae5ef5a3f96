import { invalidField } from './ve-error.js';

const MEMORY_UNITS: Readonly<Record<string, number>> = { '': 1, m: 1, mb: 1, mib: 1, g: 1024, gb: 1024, gib: 1024, t: 1024 * 1024, tb: 1024 * 1024, tib: 1024 * 1024 };

// Users write memory the way qsub does (256, 256M, 2G); everything inside is whole MiB.
export function parseMemoryMiB(field: string, text: string): number {
  const match = /^([0-9]{1,9})\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = MEMORY_UNITS[unit];
  if (match === null || factor === undefined) {
    throw invalidField(field, 'must be a size in MiB such as 256, 256M or 2G', text);
  }
  return Number(match[1]) * factor;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

// Leases are written 2h, 90m, 1d12h or HH:MM:SS (PBS walltime); inside they are seconds.
export function parseDurationSeconds(field: string, text: string): number {
  const trimmed = text.trim();
  const clock = /^(?:([0-9]{1,4}):)?([0-9]{1,2}):([0-9]{1,2})$/.exec(trimmed);
  if (clock !== null) {
    return Number(clock[1] ?? 0) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
  }
  if (/^[0-9]{1,9}$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/([0-9]{1,6})([smhdw])/g)];
  const joined = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || joined !== trimmed) {
    throw invalidField(field, 'must be a duration such as 90m, 2h, 1d12h or HH:MM:SS', text);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (DURATION_UNITS[p[2] ?? 's'] ?? 1), 0);
}

// Walltimes go to the batch system as HH:MM:SS, which both TORQUE and Slurm accept.
export function formatWalltime(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
