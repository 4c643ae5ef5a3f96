import { mkdirSync } from 'node:fs';
import { appendFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

// Hooks have no terminal: their lines go to stderr (the batch system's log) and a pbs-ve log file.
export function buildHookLog(config: PbsVeConfig, name: string): (line: string) => void {
  return (line) => {
    // one event, one line: a tool's multi-line message (virsh's "error: ...\nerror: ...") would split it, and a
    // grep for the job id would find only its first half
    const stamped = `${new Date().toISOString()} ${name}[${process.pid}] ${line.trim().replace(/\s*\n\s*/g, ' | ')}\n`;
    process.stderr.write(stamped);
    try {
      mkdirSync(join(config.stateDir, 'log'), { recursive: true, mode: 0o755 });
      // root writes here: a link or a file someone else planted under this name is refused, not followed
      appendFileNoFollow(join(config.stateDir, 'log', 'pbs-ve.log'), stamped, { mode: 0o640 });
    } catch {
      // the log is a convenience; stderr already has the line
    }
  };
}
