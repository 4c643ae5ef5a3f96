#!/usr/bin/env node
// ve-prologue: TORQUE mom_priv/prologue (through the installed wrapper) or Slurm Prolog.
import { readFile } from 'node:fs/promises';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { readPelogContext } from '../host/read-pelog-context.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { runHook } from '../host/run-hook.js';
import { findSpecToken } from '../core/encode-ve-spec.js';
import { findOperationToken } from '../operations/encode-ve-operation.js';
import { answerHelpRequest } from '../cli/answer-help-request.js';

answerHelpRequest(process.argv.slice(2), [
  'usage: ve-prologue                      (Slurm Prolog: the job comes from SLURM_JOB_ID and the Prolog environment)',
  '       ve-prologue --torque prologue|prologue.parallel <TORQUE prologue arguments>   (installed mom_priv wrapper)',
  'Realizes the VE of a job of the VE queue on this host (root). Config: $PBS_VE_CONFIG_DIR/config.json (default /etc/pbs-ve).',
  'Installed by `ve admin install mom` (TORQUE) or `ve admin install slurm-hooks` (Slurm); see docs/admin-torque.md.',
].join('\n'));
const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-prologue');
await runHook(config.batch.kind === 'slurm' ? 'slurm-prolog' : 'torque-prologue', async () => {
  const ctx = readPelogContext(config, process.argv.slice(2), process.env, 'prolog');
  // jobs outside the VE queue, or (TORQUE hands us the script) without a spec or op line, pass untouched and fast
  // (op jobs may have a queue of their own, batch.opQueue: there only op lines count, see run-prologue.ts)
  if (ctx.queue !== undefined && ctx.queue !== config.batch.veQueue && ctx.queue !== config.batch.opQueue) return 0;
  // (an unreadable script is left to the full path below, which reports it)
  const script = ctx.scriptPath === undefined ? undefined : await readFile(ctx.scriptPath, 'utf8').catch(() => undefined);
  if (script !== undefined && findSpecToken(script) === undefined && findOperationToken(script) === undefined) return 0;
  const { runPrologue } = await import('./run-prologue.js');
  return runPrologue(ctx, config, configDir, log);
}, log);
