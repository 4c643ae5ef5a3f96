import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

// Hooks have no terminal: their lines go to stderr (the batch system's log) and a pbs-ve log file.
export function buildHookLog(config: PbsVeConfig, name: string): (line: string) => void {
  return (line) => {
    const stamped = `${new Date().toISOString()} ${name}[${process.pid}] ${line}\n`;
    process.stderr.write(stamped);
    try {
      mkdirSync(join(config.stateDir, 'log'), { recursive: true });
      appendFileSync(join(config.stateDir, 'log', 'pbs-ve.log'), stamped);
    } catch {
      // the log is a convenience; stderr already has the line
    }
  };
}
