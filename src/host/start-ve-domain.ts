// Starting a defined VE domain again (recovery, ve start, ve restart --hard, resume from disk) is the
// prologue's start minus define: the domain, the wait for running, then the console capture on its new pty.
import { findConsolePty, type VeConsole } from './ve-console.js';
import { findJobDir, findVeJobFile, type VeJobRecord } from './ve-job-record.js';
import type { UserIds } from './find-user-ids.js';
import type { Virt } from '../virt/virt.js';

export interface StartVeDomainDeps {
  readonly stateDir: string;
  readonly console: VeConsole;
  readonly startTimeoutMs: number;
  readonly log: (line: string) => void;
}

// A crashed domain must be destroyed before libvirt starts it; the old capture has lost its pty.
export async function startVeDomain(record: VeJobRecord, virt: Virt, owner: UserIds, deps: StartVeDomainDeps): Promise<void> {
  const jobDir = findJobDir(deps.stateDir, record.jobId);
  if ((await virt.getDomain(record.domain))?.state === 'crashed') await virt.destroyDomain(record.domain);
  await deps.console.stopCapture(jobDir).catch(() => undefined);
  await virt.startDomain(record.domain);
  await virt.waitForState(record.domain, (s) => s === 'running', deps.startTimeoutMs);
  const logPath = findVeJobFile(jobDir, 'console');
  if (record.spec.type === 'lxc') {
    const pty = await findConsolePty(await virt.getDomainXml(record.domain));
    if (pty === undefined) deps.log(`job ${record.jobId}: no console pty after the start; the console log stops here`);
    else await deps.console.startCapture(jobDir, pty, logPath, owner);
  } else {
    await deps.console.prepareLog(logPath, owner);
  }
}
