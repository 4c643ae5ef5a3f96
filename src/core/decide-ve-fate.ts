// What becomes of a VE job whose VE the host watcher looks at: the one decision, pure, so that every
// outcome (guest off, crash, owner stop, moved away by ve migrate, ...) is decided in one place.
import type { DomainStop } from './classify-domain-stop.js';
import type { VeJobRecord } from '../host/ve-job-record.js';
import type { VeRecoveryRecord } from '../host/ve-recovery-record.js';
import type { VePartRecord } from '../inventory/inventory.js';

/** failed: the host's recovery gave up on the VE; part-stopped: another part of a multi-node VE ended */
export type VeJobOutcome = 'guest-stopped' | 'part-stopped' | 'refused' | 'not-realized' | 'failed';

export interface VeFateInput {
  readonly jobId: string;
  /** the prologue's refusal, when it refused the VE */
  readonly refusal: string | undefined;
  /** the record as the host has it now (part 0's: the job's own host) */
  readonly record: VeJobRecord | undefined;
  /** libvirt's word on the domain: state with its reason, classified */
  readonly stop: DomainStop;
  /** the libvirt state, for the message */
  readonly domainState: string | undefined;
  readonly recovery: VeRecoveryRecord | undefined;
  /** multi-node VEs: a part of this start that ended (src/core/find-ended-part.ts) */
  readonly endedPart: VePartRecord | undefined;
  /** ms since the epoch the watcher first saw the domain down in this spell; undefined = not before */
  readonly downSince: number | undefined;
  readonly now: number;
  /** how long a crashed domain may stay down with no word from the recovery */
  readonly recoveryWaitMs: number;
}

export type VeFate =
  | { readonly kind: 'keep'; readonly why: 'running' | 'owner' | 'moving' | 'not-ours'; readonly message: string }
  /** down, the host's recovery brings it back: look again at `until` at the latest */
  | { readonly kind: 'wait'; readonly until: number; readonly message: string }
  | { readonly kind: 'end'; readonly outcome: VeJobOutcome; readonly exitCode: 0 | 1; readonly message: string };

// The batch system shows the owner this exit code: a VE that ended as its guest wanted is a success.
function end(outcome: VeJobOutcome, message: string): VeFate {
  return { kind: 'end', outcome, exitCode: outcome === 'guest-stopped' || outcome === 'part-stopped' ? 0 : 1, message };
}

/**
 * The job lives exactly as long as its VE. It ends when the guest powers off or the domain is removed; a
 * crash (or a kill behind pbs-ve) is the host's to recover (ve-host-report), so the job waits for that,
 * bounded by recoveryWaitMs since the later of "first seen down" and the recovery's last word, and ends
 * when the recovery gives up. A VE its owner stopped or suspended keeps its job. Multi-node VEs are not
 * recovered: any part that stops, crashed or not, ends the VE. A record the epilogue owns (stopping,
 * destroyed) is not the watcher's: the job is ending already.
 */
export function decideVeFate(input: VeFateInput): VeFate {
  const { record } = input;
  if (input.refusal !== undefined) return end('refused', `pbs-ve: VE refused by the prologue: ${input.refusal}`);
  if (record === undefined) return end('not-realized', `pbs-ve: no running VE for job ${input.jobId} on this host (no prologue record)`);
  if (record.status === 'stopping' || record.status === 'destroyed') return { kind: 'keep', why: 'not-ours', message: `pbs-ve: job ${input.jobId}: the VE is ${record.status}; the epilogue ends it` };
  // ve migrate: the batch system requeues the job to the destination; the domain leaving (live) or stopped (cold) ends nothing here
  if (record.migration !== undefined) return { kind: 'keep', why: 'moving', message: `pbs-ve: job ${input.jobId}: the VE moves to ${record.migration.to}; the batch system requeues the job there` };
  const recoveryGaveUp = record.status === 'failed' || input.recovery?.phase === 'failed';
  if (input.endedPart !== undefined) {
    return end('part-stopped', `pbs-ve: part ${String(input.endedPart.part)} on ${input.endedPart.host || '?'} is ${input.endedPart.state}: the job ends`);
  }
  if (input.stop === 'running' && !recoveryGaveUp) return { kind: 'keep', why: 'running', message: `pbs-ve: domain ${record.domain} runs` };
  if (record.ownerState !== undefined && record.status === 'realized') {
    return { kind: 'keep', why: 'owner', message: `pbs-ve: domain ${record.domain} is ${record.ownerState} by its owner; the job keeps it` };
  }
  if (recoveryGaveUp) {
    return end('failed', `pbs-ve: domain ${record.domain} could not be recovered: ${input.recovery?.reason ?? record.reason}; the job ends`);
  }
  const multiNode = record.nodes !== undefined && record.nodes > 1;
  // a crash, or a rollback under way (the record says starting): the host brings it back
  if (multiNode || (input.stop !== 'crashed' && record.status !== 'starting')) {
    return end('guest-stopped', `pbs-ve: domain ${record.domain} is ${input.stop === 'gone' ? 'gone' : input.domainState ?? 'gone'}: the job ends`);
  }
  const downSince = input.downSince ?? input.now;
  const lastWord = Math.max(downSince, Date.parse(input.recovery?.updatedAt ?? '') || 0);
  if (input.now - lastWord >= input.recoveryWaitMs) {
    return end('guest-stopped', `pbs-ve: domain ${record.domain} was not recovered within ${Math.round(input.recoveryWaitMs / 1000)} s (is ve-host-report running on ${record.host}?): the job ends`);
  }
  return { kind: 'wait', until: lastWord + input.recoveryWaitMs, message: `pbs-ve: domain ${record.domain} is down (${input.stop}); waiting up to ${Math.round(input.recoveryWaitMs / 1000)} s for the host to recover it` };
}
