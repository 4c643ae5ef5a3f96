import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';

/** <stateDir>/monitor: the vemon side's spool, alerts, down-hosts and rejection log */
export function monitorStateDir(stateDir: string): string {
  return join(stateDir, 'monitor');
}

// The vemon side's files belong to the account its jobs run as (TORQUE: pbsve, Slurm: root), never a
// hard-coded root: a monitor running as anyone else is told so at once instead of failing file by file.
export function checkMonitorAccount(stateDir: string, euid: number | undefined = process.geteuid?.()): string {
  const dir = monitorStateDir(stateDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new VeError('monitor-dir-unwritable', 'environment', `cannot create ${dir}: ${(err as Error).message}; it must belong to the account vemon jobs run as (TORQUE: batch.eventSubmitUser, default pbsve; Slurm: root)`, { cause: err });
  }
  const owner = statSync(dir).uid;
  if (euid !== undefined && owner !== euid) {
    throw new VeError('monitor-account-mismatch', 'environment', `${dir} belongs to uid ${owner}, but ve-monitor runs as uid ${euid}: run ve-monitor as the account vemon jobs run as (TORQUE: batch.eventSubmitUser, default pbsve; Slurm: root), which owns the vemon side's host keys, ldap-write.json and ${dir}`);
  }
  return dir;
}
