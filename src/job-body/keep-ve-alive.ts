import { readVeJobRecord, readVeRefusal, type VeJobRecord } from '../host/ve-job-record.js';
import { readVeRecoveryRecord } from '../host/ve-recovery-record.js';
import { classifyDomainStop, type DomainStop } from '../core/classify-domain-stop.js';
import type { DomainInfo, Virt } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';
import type { VePartRecord } from '../inventory/inventory.js';
import { SEQ_PER_START } from '../events/next-event-seq.js';

export interface KeepVeAliveDeps {
  readonly stateDir: string;
  readonly clock: Clock;
  /** read-only connection: the job body runs as the VE's owner */
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly log: (line: string) => void;
  readonly pollMs: number;
  /** how long a crashed domain may stay down, with no word from the host's recovery, before the job ends; default 10 min */
  readonly recoveryWaitMs?: number;
  /** multi-node VEs: the parts as the inventory knows them (read-only LDAP); absent = watch the local domain only */
  readonly readParts?: (jobId: string) => Promise<readonly VePartRecord[]>;
  /** how often the parts are read, in polls of the local domain (default 5) */
  readonly partsEveryPolls?: number;
}

/** failed: the host's recovery gave up on the VE; part-stopped: another part of a multi-node VE ended */
export type KeepAliveOutcome = 'guest-stopped' | 'part-stopped' | 'refused' | 'not-realized' | 'failed';

const ENDED_PART_STATES: ReadonlySet<string> = new Set(['stopped', 'failed', 'lost', 'destroyed']);

// A part of this start that is gone ends the whole VE: a cluster with a missing node is not what was asked for.
export function findEndedPart(parts: readonly VePartRecord[], startCount: number): VePartRecord | undefined {
  return parts.find((p) => ENDED_PART_STATES.has(p.state) && Math.floor(p.seq / SEQ_PER_START) === Math.max(1, startCount));
}

const DEFAULT_RECOVERY_WAIT_MS = 600_000;

// A torn record while root rewrites it is read again on the next poll, not taken for an answer.
function readRecordQuietly(stateDir: string, jobId: string): VeJobRecord | undefined {
  try {
    return readVeJobRecord(stateDir, jobId);
  } catch {
    return undefined;
  }
}

// The reason word tells a guest's poweroff from a kill behind pbs-ve; without it every stop is a poweroff.
// State and reason come from one read: a restart between two reads would look like a poweroff.
async function readDomainStop(virt: Virt, name: string, domain: DomainInfo | undefined): Promise<DomainStop> {
  if (domain === undefined || (domain.state !== 'shutoff' && domain.state !== 'shutdown')) return classifyDomainStop(domain?.state, undefined);
  const both = await virt.getStateReason(name);
  return classifyDomainStop(both?.state, both?.reason);
}

/**
 * The job body: the job lives exactly as long as its VE. It ends when the guest powers off or the
 * domain is removed; a crash (or a kill behind pbs-ve) is the host's to recover (ve-host-report), so
 * the body waits for that, bounded by recoveryWaitMs since the last word of the recovery, and ends the
 * job when the recovery gives up. qdel and the lease end kill it from outside; the epilogue cleans up.
 * It runs on the job's first node and sees only that node's libvirtd (part 0); the other parts of a
 * multi-node VE it watches through the inventory, where their hosts report them (ve-host-report).
 * Multi-node VEs are not recovered: any part that stops, crashed or not, ends the VE.
 */
export async function keepVeAlive(jobId: string, deps: KeepVeAliveDeps): Promise<KeepAliveOutcome> {
  const refusal = readVeRefusal(deps.stateDir, jobId);
  if (refusal !== undefined) {
    deps.log(`pbs-ve: VE refused by the prologue: ${refusal}`);
    return 'refused';
  }
  const record = readVeJobRecord(deps.stateDir, jobId);
  if (record?.status !== 'realized') {
    deps.log(`pbs-ve: no running VE for job ${jobId} on this host (${record?.reason ?? 'no prologue record'})`);
    return 'not-realized';
  }
  deps.log(`pbs-ve: VE ${record.spec.name} runs as domain ${record.domain} on ${record.host}; this job keeps it alive`);
  const waitMs = deps.recoveryWaitMs ?? DEFAULT_RECOVERY_WAIT_MS;
  let virt: Virt | undefined;
  let failures = 0;
  let downSince: number | undefined;
  /** the owner's ve stop / ve suspend --to-disk the job body last saw, for one log line per change */
  let heldBy: VeJobRecord['ownerState'];
  let polls = 0;
  let partFailures = 0;
  const multiNode = record.nodes !== undefined && record.nodes > 1;
  const watchParts = multiNode ? deps.readParts : undefined;
  try {
    for (;;) {
      if (watchParts !== undefined && polls++ % (deps.partsEveryPolls ?? 5) === 0) {
        try {
          const ended = findEndedPart(await watchParts(jobId), record.startCount);
          partFailures = 0;
          if (ended !== undefined) {
            deps.log(`pbs-ve: part ${String(ended.part)} on ${ended.host || '?'} is ${ended.state}: the job ends`);
            return 'part-stopped';
          }
        } catch (err) {
          // the inventory being away says nothing about the parts: keep the VE
          if (partFailures++ % 30 === 0) deps.log(`pbs-ve: cannot read the VE's parts (${(err as Error).message}); still waiting`);
        }
      }
      try {
        virt ??= await deps.openVirt(record.roUri);
        const domain = await virt.getDomain(record.domain);
        failures = 0;
        const stop = await readDomainStop(virt, record.domain, domain);
        if (stop === 'running') {
          if (downSince !== undefined || heldBy !== undefined) deps.log(`pbs-ve: domain ${record.domain} runs again`);
          downSince = undefined;
          heldBy = undefined;
        } else {
          const now = deps.clock.now().getTime();
          const current = readRecordQuietly(deps.stateDir, jobId);
          if (current?.ownerState !== undefined && current.status === 'realized') {
            // ve stop / ve suspend --to-disk: the VE keeps its job, lease and disks until ve start / resume or the lease ends
            if (heldBy !== current.ownerState) deps.log(`pbs-ve: domain ${record.domain} is ${current.ownerState} by its owner; the job keeps it`);
            heldBy = current.ownerState;
            downSince = undefined;
            await deps.clock.sleep(deps.pollMs);
            continue;
          }
          const recovery = readVeRecoveryRecord(deps.stateDir, jobId);
          if (current?.status === 'failed' || recovery?.phase === 'failed') {
            deps.log(`pbs-ve: domain ${record.domain} could not be recovered: ${recovery?.reason ?? current?.reason ?? 'given up'}; the job ends`);
            return 'failed';
          }
          // a crash, or a rollback under way (the record says starting): the host brings it back
          if (multiNode || (stop !== 'crashed' && current?.status !== 'starting')) {
            deps.log(`pbs-ve: domain ${record.domain} is ${stop === 'gone' ? 'gone' : domain?.state ?? 'gone'}: the job ends`);
            return 'guest-stopped';
          }
          if (downSince === undefined) deps.log(`pbs-ve: domain ${record.domain} is down (${stop}); waiting up to ${Math.round(waitMs / 1000)} s for the host to recover it`);
          downSince ??= now;
          const lastWord = Math.max(downSince, Date.parse(recovery?.updatedAt ?? '') || 0);
          if (now - lastWord >= waitMs) {
            deps.log(`pbs-ve: domain ${record.domain} was not recovered within ${Math.round(waitMs / 1000)} s (is ve-host-report running on ${record.host}?): the job ends`);
            return 'guest-stopped';
          }
        }
      } catch (err) {
        // not knowing is not "stopped": the job (and so the VE) lives on until libvirtd answers again
        if (failures++ % 30 === 0) deps.log(`pbs-ve: cannot see domain ${record.domain} (${(err as Error).message}); still waiting`);
        await virt?.close().catch(() => undefined);
        virt = undefined;
      }
      await deps.clock.sleep(deps.pollMs);
    }
  } finally {
    await virt?.close();
  }
}
