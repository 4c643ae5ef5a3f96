// ve-monitor as the vemon node's cron runs it: as the account vemon jobs run as (TORQUE: the event
// account pbsve, which owns the monitor's keys, credentials and spool; Slurm: root), with mon1's config.
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/core/run-command.js';
import { EVENT_ACCOUNT, PROJECT_DIR, type SandboxInfo } from '../../src/sandbox/sandbox.js';

const MONITOR = join(PROJECT_DIR, 'dist/src/ve-monitor/main.js');

/** the account ve-monitor must run as on this sandbox's vemon node */
export function findMonitorAccount(info: SandboxInfo): string {
  return info.batch === 'torque' ? EVENT_ACCOUNT : 'root';
}

export function runVeMonitor(info: SandboxInfo, args: readonly string[], options: { readonly input?: string; readonly timeoutMs?: number; readonly env?: Readonly<Record<string, string>> } = {}): Promise<CommandResult> {
  const common = { env: options.env ?? info.vemonEnv, timeoutMs: options.timeoutMs ?? 120_000, ...(options.input === undefined ? {} : { input: options.input }) };
  const account = findMonitorAccount(info);
  return account === 'root'
    ? runCommand(process.execPath, [MONITOR, ...args], common)
    : runCommand('runuser', ['-u', account, '--', process.execPath, MONITOR, ...args], common);
}
