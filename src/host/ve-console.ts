// The per-VE console log <jobDir>/console.log, readable by the VE's owner only.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { loadXml2js } from '../core/load-xml2js.js';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { UserIds } from './find-user-ids.js';

export interface VeConsole {
  /** creates (or takes over) the log file: owner's, 0600, before the domain writes to it */
  prepareLog(logPath: string, owner: UserIds): Promise<void>;
  /** LXC: copies the container's console pty into the log in the background until the container ends */
  startCapture(jobDir: string, ptyPath: string, logPath: string, owner: UserIds): Promise<void>;
  /** no error when no capture runs */
  stopCapture(jobDir: string): Promise<void>;
}

export interface VeConsoleOptions {
  readonly nodePath: string;
  readonly installDir: string;
  readonly run?: RunCommand;
}

const captureMain = (installDir: string): string => join(installDir, 'dist/src/host/capture-console-main.js');
const pidFile = (jobDir: string): string => join(jobDir, 'console-capture.pid');

// libvirt assigns the host side of an LXC console at start: read it back from the live XML.
export async function findConsolePty(domainXml: string): Promise<string | undefined> {
  const doc = await loadXml2js().parseStringPromise(domainXml) as { domain?: { devices?: { console?: { $?: { type?: string }; source?: { $?: { path?: string } }[] }[] }[] } };
  for (const consoleDef of doc.domain?.devices?.[0]?.console ?? []) {
    const path = consoleDef.source?.[0]?.$?.path;
    if (consoleDef.$?.type === 'pty' && path !== undefined && /^\/dev\/pts\/[0-9]+$/.test(path)) return path;
  }
  return undefined;
}

// start-stop-daemon detaches the capture (own session, stdio on /dev/null) and keeps its pid file.
export function createVeConsole(options: VeConsoleOptions): VeConsole {
  const run = options.run ?? runCommand;
  return {
    async prepareLog(logPath, owner) {
      // O_NOFOLLOW: root must never chown through a link someone planted
      const handle = await open(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.chown(owner.uid, owner.gid);
        await handle.chmod(0o600);
      } finally {
        await handle.close();
      }
    },
    async startCapture(jobDir, ptyPath, logPath, owner) {
      const r = await run('start-stop-daemon', [
        '--start', '--background', '--make-pidfile', '--pidfile', pidFile(jobDir), '--exec', options.nodePath, '--',
        captureMain(options.installDir), ptyPath, logPath, String(owner.uid), String(owner.gid),
      ], { timeoutMs: 10_000 });
      if (r.exitCode !== 0) throw new VeError('console-capture-failed', 'environment', `console capture for ${ptyPath}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    },
    async stopCapture(jobDir) {
      // --oknodo: the capture ends by itself when the container goes; this only catches leftovers
      await run('start-stop-daemon', ['--stop', '--oknodo', '--quiet', '--pidfile', pidFile(jobDir), '--exec', options.nodePath, '--retry', 'TERM/2/KILL/1'], { timeoutMs: 10_000 });
    },
  };
}

