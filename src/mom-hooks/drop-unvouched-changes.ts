import type { VeStateChange } from './find-ve-state-changes.js';
import type { Virt } from '../virt/virt.js';

/**
 * A "running" that libvirt reports with reason "unknown" is its guess after libvirtd restarted (the LXC
 * driver says running even for a container still frozen): not evidence of a change, so not reported
 * until libvirt knows again. A reason that cannot be read vouches for nothing either.
 */
export async function dropUnvouchedChanges(
  changes: readonly VeStateChange[],
  domainUris: ReadonlyMap<string, string>,
  openVirt: (uri: string) => Promise<Virt>,
  log: (line: string) => void,
): Promise<VeStateChange[]> {
  const kept: VeStateChange[] = [];
  const open = new Map<string, Virt>();
  try {
    for (const change of changes) {
      const uri = domainUris.get(change.record.domain);
      if (change.state !== 'running' || uri === undefined) {
        kept.push(change);
        continue;
      }
      let reason: string;
      try {
        let virt = open.get(uri);
        if (virt === undefined) {
          virt = await openVirt(uri);
          open.set(uri, virt);
        }
        const found = await virt.getStateReason(change.record.domain);
        reason = found === undefined ? 'domain gone' : found.reason ?? 'unknown';
      } catch (err) {
        reason = `unreadable: ${(err as Error).message}`;
      }
      if (reason === 'unknown' || reason === 'domain gone' || reason.startsWith('unreadable')) {
        log(`job ${change.record.jobId}: domain ${change.record.domain} looks running but libvirt does not know why (${reason}): not reported`);
        continue;
      }
      kept.push(change);
    }
  } finally {
    for (const virt of open.values()) await virt.close().catch(() => undefined);
  }
  return kept;
}
