import { readVeJobRecord, readVeRefusal } from '../host/ve-job-record.js';
import type { Virt } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';

export interface KeepVeAliveDeps {
  readonly stateDir: string;
  readonly clock: Clock;
  /** read-only connection: the job body runs as the VE's owner */
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly log: (line: string) => void;
  readonly pollMs: number;
}

export type KeepAliveOutcome = 'guest-stopped' | 'refused' | 'not-realized';

/**
 * The job body: the job lives exactly as long as its VE. It ends when the guest powers off or the
 * domain is destroyed; qdel and the lease end kill it from outside, and the epilogue cleans up.
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
  try {
    for (;;) {
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
