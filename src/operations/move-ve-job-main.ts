#!/usr/bin/env node
// Detached by an op job's prologue (root) for `ve migrate`: requeues the VE's job pinned to the destination
// once the prologue has returned (a TORQUE MOM answers pbs_server about its running jobs only then, see
// set-time-limit-main.ts). The destination's prologue then receives the VE.
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { JOB_ID_PATTERN } from '../core/build-domain-name.js';
import { HOST_NAME } from './encode-ve-operation.js';
import { systemClock } from '../core/clock.js';

const [jobId = '', host = ''] = process.argv.slice(2);
if (!JOB_ID_PATTERN.test(jobId) || !HOST_NAME.test(host)) {
  process.stderr.write('usage: move-ve-job-main.js JOBID HOST  (started by the prologue for ve migrate)\n');
  process.exit(2);
}
const config = loadConfig(findConfigDir(process.env));
const log = buildHookLog(config, 've-migrate');
const batch = openBatch(config);
/** a few tries: a busy server, a prologue that has not returned yet */
const ATTEMPTS = 6;
for (let attempt = 1; ; attempt++) {
  try {
    await batch.moveJob(jobId, host);
    log(`job ${jobId}: requeued to run on ${host} (ve migrate)`);
    process.exit(0);
  } catch (err) {
    const job = await batch.getJob(jobId).catch(() => undefined);
    // a step that did go through (held, requeued) is not repeated blindly: the job's state says where it is
    if (attempt >= ATTEMPTS || job === undefined || job.state !== 'running') {
      log(`job ${jobId}: NOT requeued to ${host} (ve migrate, attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}; job ${job?.rawState ?? 'unknown'}`);
      process.exit(1);
    }
    await systemClock.sleep(3000);
  }
}
