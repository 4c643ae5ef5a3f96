// Lock holders (event spool) and the test harness both ask whether a recorded pid still runs.
import { readFileSync } from 'node:fs';

// "Dead" includes zombies: a lazy PID 1 reaps orphans late, so kill -0 would still succeed.
export function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
