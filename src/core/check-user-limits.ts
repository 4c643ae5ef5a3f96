import { VeError } from './ve-error.js';
import type { UserLimits } from '../config/pbs-ve-config.js';

/** One VE the user holds (pending or live), per-node sizes as `ve list` shows them. */
export interface HeldVe {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly nodes: number;
}

// The request and what the user holds, summed over nodes, against the site's per-user limits; the
// message says which limit, its value, and how much is held, so the user knows what to destroy.
export function checkUserLimits(held: readonly HeldVe[], wanted: HeldVe, limits: UserLimits): void {
  const sum = (f: (v: HeldVe) => number): number => held.reduce((s, v) => s + f(v) * Math.max(1, v.nodes), 0);
  const refuse = (what: string, limit: number, have: number, want: number, unit: string): never => {
    throw new VeError('user-limit-reached', 'prereq', `limit: at most ${limit}${unit} ${what} per user (config limits); you hold ${have}${unit} and this VE needs ${want}${unit} more; destroy one of your VEs first`, { field: 'limit', details: { what, limit, have, want } });
  };
  if (limits.vesPerUser !== undefined && held.length + 1 > limits.vesPerUser) refuse('VEs', limits.vesPerUser, held.length, 1, '');
  const wantCpus = wanted.vcpus * Math.max(1, wanted.nodes);
  if (limits.cpusPerUser !== undefined && sum((v) => v.vcpus) + wantCpus > limits.cpusPerUser) refuse('vcpus', limits.cpusPerUser, sum((v) => v.vcpus), wantCpus, '');
  const wantMemory = wanted.memoryMiB * Math.max(1, wanted.nodes);
  if (limits.memoryMiBPerUser !== undefined && sum((v) => v.memoryMiB) + wantMemory > limits.memoryMiBPerUser) refuse('memory', limits.memoryMiBPerUser, sum((v) => v.memoryMiB), wantMemory, ' MiB');
}

// Several VEs asked at once (ve cluster up, ve create --count): each is checked with the ones before it counted in.
export function checkUserLimitsForAll(held: readonly HeldVe[], wanted: readonly HeldVe[], limits: UserLimits): void {
  let holding = held;
  for (const w of wanted) {
    checkUserLimits(holding, w, limits);
    holding = [...holding, w];
  }
}
