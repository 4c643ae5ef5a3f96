#!/usr/bin/env node
// Detached by an op job's prologue (root) for `ve extend`: sets the VE job's time limit once the prologue has
// returned. TORQUE's MOM waits for its prologue, and pbs_server asks that MOM before it alters a running job,
// so a qalter from inside the prologue would wait for itself; done from here it answers in a moment.
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { JOB_ID_PATTERN } from '../core/build-domain-name.js';
import { systemClock } from '../core/clock.js';

const [jobId = '', secondsText = ''] = process.argv.slice(2);
if (!JOB_ID_PATTERN.test(jobId) || !/^[1-9][0-9]{1,8}$/.test(secondsText)) {
  process.stderr.write('usage: set-time-limit-main.js JOBID SECONDS  (started by the prologue for ve extend)\n');
  process.exit(2);
}
const config = loadConfig(findConfigDir(process.env));
const log = buildHookLog(config, 've-extend');
const batch = openBatch(config);
const seconds = Number(secondsText);
/** tries for about two minutes: long enough for a prologue to end and a busy server to answer */
const ATTEMPTS = 24;
for (let attempt = 1; ; attempt++) {
  try {
    await batch.setTimeLimit(jobId, seconds);
    log(`job ${jobId}: time limit set to ${seconds} s (ve extend)`);
    process.exit(0);
  } catch (err) {
    if (attempt >= ATTEMPTS) {
      log(`job ${jobId}: time limit NOT set to ${seconds} s after ${attempt} attempts: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    }
    await systemClock.sleep(5000);
  }
}
