import type { DomainState } from '../virt/virt.js';

/**
 * How a VE's domain stands, for the job body and the host hook alike: `running` (or paused by a
 * snapshot), `guest-stopped` (the guest powered itself off: the VE has ended, as its owner wanted),
 * `crashed` (killed behind pbs-ve, crashed or failed: recovery restarts it) or `gone` (undefined).
 */
export type DomainStop = 'running' | 'guest-stopped' | 'crashed' | 'gone';

/** libvirt's shut-off reasons that are not the guest's own doing */
const CRASH_REASONS: ReadonlySet<string> = new Set(['destroyed', 'crashed', 'failed']);

// Pure: libvirt's state plus its reason word; an unknown reason is the old, safe reading (a poweroff).
export function classifyDomainStop(state: DomainState | undefined, reason: string | undefined): DomainStop {
  if (state === undefined) return 'gone';
  if (state === 'crashed') return 'crashed';
  if (state !== 'shutoff' && state !== 'shutdown') return 'running';
  return state === 'shutoff' && reason !== undefined && CRASH_REASONS.has(reason) ? 'crashed' : 'guest-stopped';
}
