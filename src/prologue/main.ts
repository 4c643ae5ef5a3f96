#!/usr/bin/env node
// ve-prologue: TORQUE mom_priv/prologue (through the installed wrapper) or Slurm Prolog.
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { buildHookLog, openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { readPelogContext, readPelogJobScript } from '../host/read-pelog-context.js';
import { createLocalVeDisks } from '../host/ve-disks.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { realizeVe } from './realize-ve.js';
import { boundHostFault } from './bound-host-fault.js';

const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-prologue');
const context = config.batch.kind === 'slurm' ? 'slurm-prolog' : 'torque-prologue';
await runHook(context, async () => {
  const ctx = readPelogContext(config, process.argv.slice(2), process.env, 'prolog');
  // jobs outside the VE queue pass untouched without a single batch or libvirt call
  if (ctx.queue !== undefined && ctx.queue !== config.batch.veQueue) return 0;
  const batch = openBatch(config);
  let outcome;
  try {
    outcome = await realizeVe(ctx, {
      batch, config, clock: systemClock, log, disks: createLocalVeDisks(), openVirt: openVirtAt,
      events: openEventSink(config, configDir, batch, log), readJobScript: () => readPelogJobScript(ctx, batch),
    });
  } catch (err) {
    // Slurm drains the node and requeues on its own; TORQUE would loop on this host without a bound
    throw config.batch.kind === 'torque' ? await boundHostFault(err, ctx, { batch, maxStarts: config.batch.maxStarts, log }) : err;
  }
  if (outcome.kind === 'realized') log(`job ${ctx.jobId}: domain ${outcome.domain} running on ${ctx.host} after ${outcome.ms} ms`);
  return 0;
}, log);
