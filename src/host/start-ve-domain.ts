// Starting a defined VE domain again (recovery, ve start, ve restart --hard, resume from disk) is the
// prologue's start minus define: the domain, the wait for running, then the console capture on its new pty.
import type { VeConsole } from './ve-console.js';
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
  await virt.startDomain(record.domain);
  await virt.waitForState(record.domain, (s) => s === 'running', deps.startTimeoutMs);
  // an LXC console's new pty is the host watcher's to follow (it sees the start); QEMU's file stays the owner's
  if (record.spec.type !== 'lxc') await deps.console.prepareLog(findVeJobFile(jobDir, 'console'), owner);
}
