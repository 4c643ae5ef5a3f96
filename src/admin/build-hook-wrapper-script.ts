// The /bin/sh wrappers pbs-ve installs where a batch system runs hooks with a near-empty environment.
import { VeError } from '../core/ve-error.js';

/** Every wrapper we write carries this line; a file without it is the site's, never ours. */
export const WRAPPER_MARKER = '# pbs-ve-wrapper: installed by `ve admin install`; re-run the installer instead of editing';

export type HookWrapperKind = 'pre' | 'post' | 'plain';

export interface HookWrapperOptions {
  /** what the file is installed as (prologue, epilogue.precancel, health-check ...); shown in the marker */
  readonly name: string;
  readonly nodePath: string;
  /** absolute path of the compiled entry point (dist/src/.../main.js) */
  readonly entryPath: string;
  readonly configDir: string;
  /** arguments put before the batch system's own ("--torque", "prologue") */
  readonly leadingArgs: readonly string[];
  /** 'pre': a failing site script stops here (prologues); 'post': ours runs anyway, the site's
   *  failure is still the exit code (epilogues must tear the VE down); 'plain': no site script */
  readonly chain: HookWrapperKind;
  /** the site's own script, moved aside; run first with the same argv */
  readonly siteScript?: string;
  /** only jobs of these queues (or of an unknown queue) reach node at all: compared before anything starts */
  readonly queues?: readonly string[];
  /** where the queue is: its 1-based position in the batch system's argv (TORQUE prologue 6, epilogue 8) */
  readonly queueArg?: number;
  /** or the environment variable holding it (Slurm Prolog/Epilog: SLURM_JOB_PARTITION) */
  readonly queueVariable?: string;
  /** exit code when node or the entry point is missing (TORQUE prologue: 1 = abort, never loop) */
  readonly missingExitCode?: number;
}

const SAFE_VALUE = /^[A-Za-z0-9_.,:/@+=-]+$/;

// Paths end up inside a root shell script: anything beyond plain path characters is refused, not quoted.
function shellWord(field: string, value: string): string {
  if (!SAFE_VALUE.test(value)) {
    throw new VeError('invalid-field', 'prereq', `${field}: must be a plain path or word of [A-Za-z0-9_.,:/@+=-] (got ${JSON.stringify(value)})`, { field });
  }
  return `'${value}'`;
}

// Written once per install so the hook runs without PATH, HOME or any variable from the batch system.
export function buildHookWrapperScript(o: HookWrapperOptions): string {
  for (const [field, value] of [['nodePath', o.nodePath], ['entryPath', o.entryPath], ['configDir', o.configDir]] as const) {
    if (!value.startsWith('/')) throw new VeError('invalid-field', 'prereq', `${field}: must be an absolute path (got ${JSON.stringify(value)})`, { field });
  }
  const node = shellWord('nodePath', o.nodePath);
  const entry = shellWord('entryPath', o.entryPath);
  const configDir = shellWord('configDir', o.configDir);
  const leading = o.leadingArgs.map((a) => shellWord('leadingArgs', a)).join(' ');
  const missing = o.missingExitCode ?? 1;
  const lines = [
    '#!/bin/sh',
    WRAPPER_MARKER,
    `# pbs-ve-hook: ${shellWord('name', o.name).slice(1, -1)}`,
    'PATH=/bin:/usr/bin',
    'export PATH',
    'rc=0',
  ];
  if (o.chain !== 'plain' && o.siteScript !== undefined) {
    const site = shellWord('siteScript', o.siteScript);
    lines.push(`# the site's own script (moved aside at install time) runs first, with the same arguments`);
    lines.push(`${site} "$@" || rc=$?`);
    if (o.chain === 'pre') lines.push('[ "$rc" -eq 0 ] || exit "$rc"');
  }
  const queueFrom = o.queueArg !== undefined ? String(o.queueArg) : o.queueVariable;
  if (o.queues !== undefined && o.queues.length > 0 && queueFrom !== undefined) {
    if (!/^([1-9][0-9]?|[A-Z_][A-Z0-9_]*)$/.test(queueFrom)) throw new VeError('invalid-field', 'prereq', `queueVariable: must be an environment variable name of [A-Z0-9_] (got ${JSON.stringify(queueFrom)})`, { field: 'queueVariable' });
    lines.push('# jobs of other queues never start node: they pass in a few milliseconds');
    lines.push(`queue="\${${queueFrom}-}"`);
    lines.push(`case "$queue" in ${o.queues.map((q) => shellWord('queues', q)).join('|')}|'') ;; *) exit "$rc" ;; esac`);
  }
  lines.push(`if [ ! -x ${node} ] || [ ! -f ${entry} ]; then`);
  lines.push(`  echo "pbs-ve: ${o.nodePath} or ${o.entryPath} is missing: re-run ve admin install" >&2`);
  lines.push(`  exit ${String(missing)}`);
  lines.push('fi');
  lines.push(`PBS_VE_CONFIG_DIR=${configDir}`, 'export PBS_VE_CONFIG_DIR');
  const run = `${node} ${entry}${leading === '' ? '' : ` ${leading}`} "$@"`;
  if (o.chain === 'post' && o.siteScript !== undefined) {
    lines.push(`${run} || { ours=$?; [ "$rc" -ne 0 ] || rc=$ours; }`);
    lines.push('exit "$rc"');
  } else {
    lines.push(`exec ${run}`);
  }
  return `${lines.join('\n')}\n`;
}

// Tells our wrappers from the site's scripts by content, not by name.
export function isHookWrapper(content: string): boolean {
  return content.split('\n', 3).includes(WRAPPER_MARKER);
}
