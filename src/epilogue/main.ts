#!/usr/bin/env node
// ve-epilogue: TORQUE mom_priv/epilogue (through the installed wrapper) or Slurm Epilog.
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { readPelogContext } from '../host/read-pelog-context.js';
import { createLocalVeDisks } from '../host/ve-disks.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { teardownVe } from './teardown-ve.js';
import { answerHelpRequest } from '../cli/answer-help-request.js';

answerHelpRequest(process.argv.slice(2), [
  'usage: ve-epilogue                      (Slurm Epilog: the job comes from SLURM_JOB_ID and the Epilog environment)',
  '       ve-epilogue --torque epilogue|epilogue.parallel <TORQUE epilogue arguments>   (installed mom_priv wrapper)',
  'Tears the VE of a job down on this host (root): domain destroyed and undefined, disks removed, event journalled.',
  'Config: $PBS_VE_CONFIG_DIR/config.json (default /etc/pbs-ve).',
].join('\n'));

// an older install's epilogue.precancel wrapper still calls us, as the job owner inside qdel handling: nothing to do, at once
if (process.argv[2] === '--torque' && process.argv[3] === 'epilogue.precancel') process.exit(0);
const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-epilogue');
const context = config.batch.kind === 'slurm' ? 'slurm-epilog' : 'torque-epilogue';
await runHook(context, async () => {
  const ctx = readPelogContext(config, process.argv.slice(2), process.env, 'epilog');
  if (ctx.queue !== undefined && ctx.queue !== config.batch.veQueue) return 0;
  const batch = openBatch(config);
  const outcome = await teardownVe(ctx, {
    config, clock: systemClock, log, disks: createLocalVeDisks(), openVirt: openVirtAt, events: openEventSink(config, configDir, batch, log),
    readJob: (jobId) => batch.getJob(jobId),
  });
  if (outcome.kind === 'destroyed') log(`job ${ctx.jobId}: domain ${outcome.domain} destroyed (${outcome.reason}) in ${outcome.ms} ms`);
  if (outcome.kind === 'already-gone') log(`job ${ctx.jobId}: domain ${outcome.domain} was undone by its prologue (${outcome.reason})`);
  return 0;
}, log);
