import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openBatch, openEventSink, openInventory, openVirtAt } from '../config/open-adapters.js';
import { readPelogJobScript } from '../host/read-pelog-context.js';
import { createLocalVeDisks } from '../host/ve-disks.js';
import { createVeConsole } from '../host/ve-console.js';
import { systemClock } from '../core/clock.js';
import { findSpecToken } from '../core/encode-ve-spec.js';
import { findOperationToken } from '../operations/encode-ve-operation.js';
import { realizeVe } from './realize-ve.js';
import { runVeOperation } from '../operations/run-ve-operation.js';
import { boundHostFault } from './bound-host-fault.js';
import { isPrologueRetried } from '../core/decide-exit-code.js';
import type { PelogContext } from '../batch/batch.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

// A short-lived root helper that outlives the prologue: own session, no stdio, never waited for.
function startDetached(command: string, args: readonly string[]): void {
  spawn(command, args, { detached: true, stdio: 'ignore', env: process.env }).unref();
}

// The prologue's wiring, loaded only for jobs that may be VE jobs (libvirt and LDAP code load slowly).
export async function runPrologue(ctx: PelogContext, config: PbsVeConfig, configDir: string, log: (line: string) => void): Promise<number> {
  const batch = openBatch(config);
  // read once: TORQUE hands a file, Slurm needs a round trip to slurmctld
  let script: Promise<string | undefined> | undefined;
  const readJobScript = (): Promise<string | undefined> => (script ??= readPelogJobScript(ctx, batch));
  const text = await readJobScript().catch(() => undefined);
  // a VE job's spec line wins; only a job without one can be an operation on another VE
  const opToken = text === undefined || findSpecToken(text) !== undefined ? undefined : findOperationToken(text);
  if (opToken !== undefined) {
    const console = createVeConsole();
    await runVeOperation(ctx, opToken, {
      batch, config, clock: systemClock, events: openEventSink(config, configDir, batch, log), log,
      snapshots: {
        stateDir: config.stateDir, openVirt: openVirtAt, console, log, startTimeoutMs: config.virt.startTimeoutMs, now: () => systemClock.now(),
      },
      scheduleTimeLimit: (jobId, seconds) => { startDetached(config.nodePath, [join(config.installDir, 'dist/src/operations/set-time-limit-main.js'), jobId, String(seconds)]); },
      scheduleMove: (jobId, host) => { startDetached(config.nodePath, [join(config.installDir, 'dist/src/operations/move-ve-job-main.js'), jobId, host]); },
    });
    return 0;
  }
  // the op queue has room VEs cannot take: a VE spec submitted there by hand is no VE
  if (ctx.queue !== undefined && ctx.queue !== config.batch.veQueue) {
    // (ve ssh's relay job on TORQUE has no script at all: nothing to say)
    if (text !== undefined) log(`job ${ctx.jobId}: a VE spec in queue ${ctx.queue}, which is for operations only (VEs go to ${config.batch.veQueue}): no VE made`);
    return 0;
  }
  const exitContext = config.batch.kind === 'torque' ? 'torque-prologue' : 'slurm-prolog';
  const outcome = await realizeVe(ctx, {
    batch, config, clock: systemClock, log, disks: createLocalVeDisks(), openVirt: openVirtAt,
    events: openEventSink(config, configDir, batch, log), readJobScript,
    // Slurm drains the node and requeues on its own; TORQUE would loop on this host without a bound
    ...(config.batch.kind === 'torque' ? { boundFault: (err: unknown) => boundHostFault(err, ctx, { batch, maxStarts: config.batch.maxStarts, stateDir: config.stateDir, clock: systemClock, log }) } : {}),
    isRetried: (err) => isPrologueRetried(err, exitContext),
    findPreviousHost: async (jobId) => {
      const inventory = openInventory(config, 'read');
      try {
        return (await inventory.getVe(jobId))?.host;
      } finally {
        await inventory.close();
      }
    },
  });
  if (outcome.kind === 'realized') log(`job ${ctx.jobId}: domain ${outcome.domain} running on ${ctx.host} after ${outcome.ms} ms`);
  return 0;
}
