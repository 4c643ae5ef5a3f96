import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface RejectedEvent {
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

// Values from the job environment and the event lines are hostile: keep them short and inert.
function clean(value: string | undefined, max: number): string {
  if (value === undefined || value === '') return '-';
  return value.replace(/[^A-Za-z0-9_.@:[\]-]/g, '?').slice(0, max);
}

/** Where a vemon job came from, as its environment says (for the administrator, not for trust). */
export function describeEventOrigin(env: Readonly<Record<string, string | undefined>>): string {
  const job = env['SLURM_JOB_ID'] ?? env['PBS_JOBID'];
  const user = env['SLURM_JOB_USER'] ?? env['PBS_O_LOGNAME'] ?? env['USER'];
  const host = env['SLURM_SUBMIT_HOST'] ?? env['PBS_O_HOST'];
  return `vemon-job=${clean(job, 40)} user=${clean(user, 32)} submit-host=${clean(host, 64)}`;
}

/** in the monitor's own directory: the account vemon jobs run as can write it, and nobody else's log is touched */
export function rejectedLogPath(stateDir: string): string {
  return join(stateDir, 'monitor', 've-monitor-rejected.log');
}

// Forged or unsigned events are a security finding: stderr (the job's output) and a log the admin keeps.
export function logRejectedEvents(stateDir: string, rejected: readonly RejectedEvent[], lines: readonly string[], origin: string, now: Date = new Date()): void {
  if (rejected.length === 0) return;
  const file = rejectedLogPath(stateDir);
  const text = rejected.map((r) => `${now.toISOString()} ${origin} line ${r.line} ${r.code}: ${r.message.replace(/[\r\n]/g, ' ')} [${clean(lines[r.line - 1], 60)}...]\n`).join('');
  process.stderr.write(text.split('\n').filter((l) => l !== '').map((l) => `ve-monitor: rejected ${l}\n`).join(''));
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, text, { mode: 0o600 });
  } catch (err) {
    process.stderr.write(`ve-monitor: cannot write ${file}: ${(err as Error).message}\n`);
  }
}
