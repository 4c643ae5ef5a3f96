import { openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { readPelogJobScript } from '../host/read-pelog-context.js';
import { createLocalVeDisks } from '../host/ve-disks.js';
import { systemClock } from '../core/clock.js';
import { realizeVe } from './realize-ve.js';
import { boundHostFault } from './bound-host-fault.js';
import type { PelogContext } from '../batch/batch.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

// The prologue's wiring, loaded only for jobs that may be VE jobs (libvirt and LDAP code load slowly).
export async function runPrologue(ctx: PelogContext, config: PbsVeConfig, configDir: string, log: (line: string) => void): Promise<number> {
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
}
