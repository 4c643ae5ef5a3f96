import { readVeJobRecord, readVeRefusal } from '../host/ve-job-record.js';
import type { Virt } from '../virt/virt.js';
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
  /** multi-node VEs: the parts as the inventory knows them (read-only LDAP); absent = watch the local domain only */
  readonly readParts?: (jobId: string) => Promise<readonly VePartRecord[]>;
  /** how often the parts are read, in polls of the local domain (default 5) */
  readonly partsEveryPolls?: number;
}

export type KeepAliveOutcome = 'guest-stopped' | 'part-stopped' | 'refused' | 'not-realized';

const ENDED_PART_STATES: ReadonlySet<string> = new Set(['stopped', 'failed', 'lost', 'destroyed']);

// A part of this start that is gone ends the whole VE: a cluster with a missing node is not what was asked for.
export function findEndedPart(parts: readonly VePartRecord[], startCount: number): VePartRecord | undefined {
  return parts.find((p) => ENDED_PART_STATES.has(p.state) && Math.floor(p.seq / SEQ_PER_START) === Math.max(1, startCount));
}

/**
 * The job body: the job lives exactly as long as its VE. It ends when the guest powers off or the
 * domain is destroyed; qdel and the lease end kill it from outside, and the epilogue cleans up.
 * It runs on the job's first node and sees only that node's libvirtd (part 0); the other parts of a
 * multi-node VE it watches through the inventory, where their hosts report them (ve-host-report).
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
  let virt: Virt | undefined;
  let failures = 0;
  let polls = 0;
  let partFailures = 0;
  const watchParts = record.nodes !== undefined && record.nodes > 1 ? deps.readParts : undefined;
  try {
    for (;;) {
      if (watchParts !== undefined && polls++ % (deps.partsEveryPolls ?? 5) === 0) {
        try {
          const ended = findEndedPart(await watchParts(jobId), record.startCount);
          partFailures = 0;
          if (ended !== undefined) {
            deps.log(`pbs-ve: part ${ended.part} on ${ended.host || '?'} is ${ended.state}: the job ends`);
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
        if (domain === undefined || domain.state === 'shutoff' || domain.state === 'crashed') {
          deps.log(`pbs-ve: domain ${record.domain} is ${domain?.state ?? 'gone'}: the job ends`);
          return 'guest-stopped';
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
