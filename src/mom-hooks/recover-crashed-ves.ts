// Recovery of crashed VEs on their own host (root, in ve-host-report): restart, roll back, give up.
import { withVeJobLock, findJobDir, readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { readVeRecoveryRecord, writeVeRecoveryRecord } from '../host/ve-recovery-record.js';
import { readSnapshotIndex, rollbackVe, type VeSnapshotDeps } from '../host/ve-snapshots.js';
import type { VeConsole } from '../host/ve-console.js';
import { startVeDomain } from '../host/start-ve-domain.js';
import { announceVeState } from '../host/record-ve-transition.js';
import { classifyDomainStop } from '../core/classify-domain-stop.js';
import { decideVeRecovery, recordRecovery, type RecoveryDecision, type RecoveryPolicy } from '../core/decide-ve-recovery.js';
import type { Batch } from '../batch/batch.js';
import type { Virt, DomainInfo } from '../virt/virt.js';
import type { EventSink } from '../events/event-sink.js';
import type { Clock } from '../core/clock.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { UserIds } from '../host/find-user-ids.js';
import type { VeState } from '../core/ve-state.js';

export interface RecoverCrashedVesDeps {
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly openVirt: (uri: string) => Promise<Virt>;
  /** asked whether the VE's job still runs here: a job that is ending is the epilogue's, not ours */
  readonly batch: Pick<Batch, 'getJob'>;
  readonly console: VeConsole;
  readonly findOwner: (user: string) => Promise<UserIds>;
  readonly policy: RecoveryPolicy;
  readonly log: (line: string) => void;
}

export interface RecoveryStep {
  readonly jobId: string;
  readonly domain: string;
  readonly action: RecoveryDecision['action'] | 'skipped' | 'error';
  readonly detail: string;
  /** from seeing the crash to the domain running again (restart, rollback) */
  readonly ms: number;
}


// Every event this hook sends also marks the state reported, so the plain state report does not send it again.
async function emit(deps: RecoverCrashedVesDeps, record: VeJobRecord, state: VeState, source: 'mom-hook' | 'recovery', reason: string): Promise<void> {
  await announceVeState(deps, record, state, source, reason);
}

// The newest snapshot by time taken: the last good state the owner chose to keep.
function findNewestSnapshot(stateDir: string, jobId: string): string | undefined {
  const snapshots = [...readSnapshotIndex(stateDir, jobId)].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return snapshots.at(-1)?.name;
}

// One crashed VE, under its lock, every fact read again inside it: the epilogue or an op may have come first.
async function recoverOne(host: string, record: VeJobRecord, virt: Virt, deps: RecoverCrashedVesDeps): Promise<RecoveryStep> {
  const seen = Date.now();
  const step = (action: RecoveryStep['action'], detail: string): RecoveryStep => ({ jobId: record.jobId, domain: record.domain, action, detail, ms: Date.now() - seen });
  const current = readVeJobRecord(deps.config.stateDir, record.jobId);
  if (current?.status !== 'realized') return step('skipped', `job record says ${current?.status ?? 'nothing'}`);
  if (current.ownerState !== undefined) return step('skipped', `${current.ownerState} by its owner`);
  const domain = await virt.getStateReason(record.domain);
  const why = domain !== undefined && 'reason' in domain ? domain.reason : undefined;
  if (classifyDomainStop(domain?.state, why) !== 'crashed') return step('skipped', `domain is ${domain?.state ?? 'gone'} (${why ?? 'no reason'})`);
  const job = await deps.batch.getJob(record.jobId);
  if (job?.state !== 'running' || job.execHosts[0] !== host) {
    return step('skipped', `job ${record.jobId} is ${job?.rawState ?? 'unknown to the batch system'}${job === undefined ? '' : ` on ${job.execHosts.join(',') || 'no host'}`}: the epilogue's to clean up`);
  }
  const crash = `domain ${domain?.state ?? 'gone'}${why === undefined ? '' : ` (${why})`}`;
  const history = readVeRecoveryRecord(deps.config.stateDir, record.jobId) ?? { restarts: [] };
  const now = deps.clock.now();
  const decision = decideVeRecovery(history, findNewestSnapshot(deps.config.stateDir, record.jobId), now, deps.policy);
  const after = recordRecovery(history, decision, now, deps.policy);
  const stamp = (): string => deps.clock.now().toISOString();
  await emit(deps, record, 'stopped', 'mom-hook', `crashed: ${crash} behind pbs-ve`);
  if (decision.action === 'give-up') {
    const reason = `recovery gave up: ${decision.reason}`;
    writeVeRecoveryRecord(deps.config.stateDir, record.jobId, { ...after, phase: 'failed', reason, updatedAt: stamp() });
    // failed, not destroyed: the epilogue still cleans up but leaves this the VE's last word in LDAP
    writeVeJobRecord(deps.config.stateDir, { ...current, status: 'failed', reason });
    await emit(deps, record, 'failed', 'recovery', reason);
    return step('give-up', reason);
  }
  // counted before it is tried: a start that fails still climbs the ladder on the next run
  writeVeRecoveryRecord(deps.config.stateDir, record.jobId, { ...after, phase: 'recovering', reason: crash, updatedAt: stamp() });
  const owner = await deps.findOwner(record.owner);
  let detail: string;
  if (decision.action === 'restart') {
    await startVeDomain(record, virt, owner, { stateDir: deps.config.stateDir, console: deps.console, startTimeoutMs: deps.config.virt.startTimeoutMs, log: deps.log });
    detail = `restarted ${decision.attempt}/${decision.of} after a crash (${crash})`;
  } else {
    const snapshotDeps: VeSnapshotDeps = {
      stateDir: deps.config.stateDir, openVirt: deps.openVirt, console: deps.console, log: deps.log, startTimeoutMs: deps.config.virt.startTimeoutMs,
      now: () => deps.clock.now(), owner,
    };
    await rollbackVe(current, decision.snapshot, snapshotDeps);
    await virt.waitForState(record.domain, (s) => s === 'running', deps.config.virt.startTimeoutMs);
    detail = `rolled back to snapshot ${decision.snapshot} after ${deps.policy.maxRestarts} restart(s) and started again (${crash})`;
  }
  writeVeRecoveryRecord(deps.config.stateDir, record.jobId, { ...after, phase: 'recovered', reason: detail, updatedAt: stamp() });
  await emit(deps, record, 'running', 'recovery', detail);
  return step(decision.action, detail);
}

/**
 * Every realized VE of this host whose domain crashed or was killed behind pbs-ve (libvirt's reason
 * destroyed/crashed/failed, never a guest's own poweroff) while its job still runs here climbs the
 * ladder one rung per crash: restart (policy.maxRestarts per window), roll back to the newest
 * snapshot and start, give up (`failed`; the job body then ends the job and the epilogue cleans up).
 */
export async function recoverCrashedVes(host: string, records: readonly VeJobRecord[], domains: readonly DomainInfo[], deps: RecoverCrashedVesDeps): Promise<RecoveryStep[]> {
  const byName = new Map(domains.map((d) => [d.name, d]));
  const steps: RecoveryStep[] = [];
  for (const record of records) {
    const domain = byName.get(record.domain);
    if (record.status !== 'realized' || domain === undefined || (domain.state !== 'shutoff' && domain.state !== 'crashed')) continue;
    if (record.nodes !== undefined && record.nodes > 1) {
      // a virtual cluster missing a node is not what was asked for: the part is reported stopped, the VE ends
      steps.push({ jobId: record.jobId, domain: record.domain, action: 'skipped', detail: 'part of a multi-node VE: not recovered, the VE ends', ms: 0 });
      continue;
    }
    let virt: Virt | undefined;
    try {
      virt = await deps.openVirt(record.uri);
      const opened = virt;
      const result = await withVeJobLock(findJobDir(deps.config.stateDir, record.jobId), 'recovery', () => recoverOne(host, record, opened, deps));
      steps.push(result);
    } catch (err) {
      // the next run tries again (a failed restart was counted, so it climbs the ladder)
      steps.push({ jobId: record.jobId, domain: record.domain, action: 'error', detail: err instanceof Error ? err.message : String(err), ms: 0 });
    } finally {
      await virt?.close();
    }
  }
  for (const s of steps) deps.log(`job ${s.jobId}: recovery of ${s.domain}: ${s.action}: ${s.detail}${s.action === 'restart' || s.action === 'rollback' ? ` (${s.ms} ms)` : ''}`);
  return steps;
}
