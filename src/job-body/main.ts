#!/usr/bin/env node
// The body of every VE job: runs as the VE's owner and lives exactly as long as the VE.
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openInventory, openReadOnlyVirtAt } from '../config/open-adapters.js';
import { validateJobId } from '../core/build-domain-name.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { VeError } from '../core/ve-error.js';
import { keepVeAlive } from './keep-ve-alive.js';
import type { VePartRecord } from '../inventory/inventory.js';
import { answerHelpRequest } from '../cli/answer-help-request.js';

answerHelpRequest(process.argv.slice(2), [
  'usage: job-body/main.js   (the body of every VE job script; runs as the VE owner inside the job)',
  'Watches the job\'s domain over libvirt\'s read-only socket and ends when the VE ends. Needs SLURM_JOB_ID or PBS_JOBID.',
].join('\n'));
const config = loadConfig(findConfigDir(process.env));
await runHook('job-body', async () => {
  const raw = process.env['SLURM_JOB_ID'] ?? process.env['PBS_JOBID'];
  if (raw === undefined) throw new VeError('no-job-id', 'prereq', 'the job body runs only inside a batch job (SLURM_JOB_ID or PBS_JOBID)');
  // one read-only LDAP connection, opened only if the VE has parts on other nodes
  let inventory: ReturnType<typeof openInventory> | undefined;
  const readParts = async (jobId: string): Promise<VePartRecord[]> => {
    inventory ??= openInventory(config, 'read');
    return inventory.listParts(jobId);
  };
  try {
    const outcome = await keepVeAlive(validateJobId(raw), {
      stateDir: config.stateDir, clock: systemClock, openVirt: openReadOnlyVirtAt, pollMs: 2000, recoveryWaitMs: 1000 * (config.recovery?.waitSeconds ?? 600), log: (l) => process.stdout.write(`${l}\n`), readParts,
    });
    // a VE the host could not recover ends the job as failed, like a refused or missing one
    return outcome === 'guest-stopped' || outcome === 'part-stopped' ? 0 : 1;
  } finally {
    await inventory?.close();
  }
});
