import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';

// '%' only for a "%h" host placeholder (src/config/load-config.ts findConfigDir)
const SAFE_PATH = /^\/[A-Za-z0-9_./+%-]*$/;

function checkPath(field: string, path: string): string {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) {
    throw new VeError('invalid-config', 'environment', `config ${field}: must be an absolute path of [A-Za-z0-9_./+%-] (got ${JSON.stringify(path)})`, { field });
  }
  return path;
}

/** The vemon job: events ride in a quoted heredoc, so nothing in them is ever seen by a shell. */
export function buildMonitorScript(options: { nodePath: string; installDir: string; configDir: string; encodedEvents: readonly string[] }): string {
  const node = checkPath('nodePath', options.nodePath);
  const main = checkPath('installDir', join(options.installDir, 'dist/src/ve-monitor/main.js'));
  const configDir = checkPath('configDir', options.configDir);
  for (const e of options.encodedEvents) {
    if (!/^[A-Za-z0-9_.-]+$/.test(e)) throw new VeError('invalid-event', 'exec', 'encoded event is not a signed base64url line');
  }
  return [
    '#!/bin/sh',
    '# pbs-ve events (a #PBS or #SBATCH prefix would be read as submit options)',
    `PBS_VE_CONFIG_DIR=${configDir} exec ${node} ${main} apply --stdin <<'PBSVE_EVENTS'`,
    ...options.encodedEvents,
    'PBSVE_EVENTS',
    '',
  ].join('\n');
}
