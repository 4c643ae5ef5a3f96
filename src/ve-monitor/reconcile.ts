import { applyEvent } from './apply-event.js';
import { findJobSpec } from '../batch/find-job-spec.js';
import { buildDomainName } from '../core/build-domain-name.js';
import type { VeState } from '../core/ve-state.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Inventory, VeRecord } from '../inventory/inventory.js';
import type { Clock } from '../core/clock.js';
import type { VeEvent } from '../core/ve-event.js';

export interface DriftItem {
  readonly jobId: string;
  readonly name: string;
  readonly finding: 'job-gone' | 'unknown-to-ldap';
  readonly from: VeState | undefined;
  readonly to: VeState;
  readonly detail: string;
  readonly changed: boolean;
}

export interface ReconcileDeps {
  readonly inventory: Inventory;
  readonly batch: Batch;
  readonly clock: Clock;
  readonly veQueue: string;
}

const LIVE_STATES: ReadonlySet<VeState> = new Set(['starting', 'running', 'stopping', 'stopped', 'unknown']);

function buildReconcileEvent(base: Omit<VeEvent, 'version' | 'source' | 'at'>, clock: Clock): VeEvent {
  return { version: 1, source: 'reconcile', at: clock.now().toISOString(), ...base };
}

// LDAP says it lives but the batch system has no live job for it: the VE cannot be running.
function findLost(ve: VeRecord, jobs: ReadonlyMap<string, BatchJob>): string | undefined {
  if (!LIVE_STATES.has(ve.state)) return undefined;
  const job = jobs.get(ve.jobId);
  if (job === undefined) return 'the batch system no longer knows the job';
  if (job.state === 'completed') return `the job has ended (${job.rawState})`;
  return undefined;
}

/**
 * One cron pass: LDAP and the batch system are compared and LDAP repaired; returns what it found.
 * Linear: one LDAP listing and one job listing (every queue: a VE job moved to another queue still
 * lives), then map lookups; per-item LDAP calls only for drift.
 */
export async function reconcile(deps: ReconcileDeps, options: { readonly dryRun: boolean }): Promise<DriftItem[]> {
  const [ves, allJobs] = await Promise.all([deps.inventory.listVes({ includeFinal: false }), deps.batch.listJobs()]);
  const jobs = new Map(allJobs.map((j) => [j.jobId, j]));
  const jobList = allJobs.filter((j) => j.queue === deps.veQueue);
  const drift: DriftItem[] = [];
  for (const ve of ves) {
    const why = findLost(ve, jobs);
    if (why === undefined) continue;
    // seq + 1 is odd: the host's own next event (seq + 2, see HOST_SEQ_STEP) still outranks this guess
    const event = buildReconcileEvent({ ...ve, seq: ve.seq + 1, state: 'lost', reason: why }, deps.clock);
    const changed = !options.dryRun && (await applyEvent(deps.inventory, event)) === 'applied';
    drift.push({ jobId: ve.jobId, name: ve.name, finding: 'job-gone', from: ve.state, to: 'lost', detail: why, changed });
  }
  const known = new Set(ves.map((v) => v.jobId));
  for (const job of jobList) {
    if (job.state !== 'running' || known.has(job.jobId)) continue;
    const spec = findJobSpec(job);
    if (spec === undefined) continue;
    // a final entry means the VE ended once already: that is history, not drift to overwrite
    if ((await deps.inventory.getVe(job.jobId)) !== undefined) continue;
    const event = buildReconcileEvent({
      jobId: job.jobId, seq: 1, state: 'running', host: job.execHosts[0] ?? '', owner: job.owner, name: spec.name, type: spec.type,
      image: spec.image, vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, domain: buildDomainName(job.jobId), reason: 'running VE job unknown to LDAP',
    }, deps.clock);
    const changed = !options.dryRun && (await applyEvent(deps.inventory, event)) === 'applied';
    drift.push({ jobId: job.jobId, name: spec.name, finding: 'unknown-to-ldap', from: undefined, to: 'running', detail: `running on ${event.host}`, changed });
  }
  return drift;
}
