// ve migrate on the source host (root, under the VE's lock): check that the move can happen, mark the VE
// as moving, stop and pack it (cold) or leave it running (live), publish the move for the destination and
// have the VE's job requeued pinned to the destination. The destination's prologue does the rest.
import { VeError } from '../core/ve-error.js';
import { findJobDir, writeVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import { buildPeerUri, checkPeerReachable, publishVeMove, readDomainUuid, readSnapshotXmls, type VeMoveManifest } from '../host/ve-migration.js';
import { readSnapshotIndex } from '../host/ve-snapshots.js';
import type { VeOperation } from './encode-ve-operation.js';
import type { VeState } from '../core/ve-state.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface StartVeMigrationDeps {
  readonly config: PbsVeConfig;
  readonly now: () => Date;
  /** stops the domain as ve stop does (a clean shutdown, destroyed after the timeout) */
  readonly stopDomain: (record: VeJobRecord) => Promise<string>;
  /** requeues the VE's job pinned to the destination once the op's prologue has returned */
  readonly scheduleMove: (jobId: string, host: string) => void;
}

// Everything that could refuse the move is checked before the VE is touched.
async function checkMigration(op: VeOperation, record: VeJobRecord, from: VeState, deps: StartVeMigrationDeps): Promise<string> {
  const to = op.to ?? '';
  const migration = deps.config.virt.migration;
  if (migration === undefined) throw new VeError('migration-not-configured', 'prereq', 'to: this site has not configured migration (config virt.migration: how hosts reach each other\'s libvirtd)', { field: 'to' });
  if (to === record.host) throw new VeError('migration-same-host', 'prereq', `to: VE "${record.spec.name}" already runs on ${to}`, { field: 'to' });
  if (op.live === true) {
    if (record.spec.type !== 'kvm') throw new VeError('migration-live-unsupported', 'prereq', `live: VE "${record.spec.name}" is an LXC container; containers move cold (without --live)`, { field: 'live' });
    if (from !== 'running') throw new VeError('ve-wrong-state', 'prereq', `live: VE "${record.spec.name}" is ${from}; a live migration needs it running`, { field: 'live' });
    if (readSnapshotIndex(deps.config.stateDir, record.jobId).length > 0) {
      throw new VeError('migration-live-snapshots', 'prereq', `live: VE "${record.spec.name}" has snapshots, which libvirt cannot carry in a live migration; move it cold (without --live)`, { field: 'live' });
    }
  }
  await checkPeerReachable(buildPeerUri(migration, record.spec.type, to), to);
  return to;
}

/** Returns the message for the owner; the record written says where the VE goes. */
export async function startVeMigration(op: VeOperation, record: VeJobRecord, from: VeState, deps: StartVeMigrationDeps): Promise<{ message: string; record: VeJobRecord }> {
  const to = await checkMigration(op, record, from, deps);
  const live = op.live === true;
  const moving: VeJobRecord = { ...record, migration: { from: record.host, to, live, at: deps.now().toISOString() }, ...(live ? {} : { ownerState: 'stopped' as const }) };
  writeVeJobRecord(deps.config.stateDir, moving);
  const jobDir = findJobDir(deps.config.stateDir, record.jobId);
  let stopped = '';
  try {
    if (!live && from === 'running') stopped = `${await deps.stopDomain(record)}; `;
    const snapshotNames = readSnapshotIndex(deps.config.stateDir, record.jobId).map((s) => s.name);
    const manifest: VeMoveManifest = {
      v: 1, jobId: record.jobId, domain: record.domain, type: record.spec.type, from: record.host, to, live, at: moving.migration?.at ?? '',
      ...(record.lxcIdMap === undefined ? {} : { lxcIdMap: record.lxcIdMap }),
      snapshotXmls: record.spec.type === 'kvm' ? await readSnapshotXmls(record.uri, record.domain, snapshotNames) : [],
      ...(live ? { uuid: await readDomainUuid(record.uri, record.domain) } : {}),
    };
    await publishVeMove(manifest, jobDir, deps.config.stateDir, record.uri);
    deps.scheduleMove(record.jobId, to);
    return { message: `${stopped}moving to ${to} (${live ? 'live: the guest keeps running' : 'cold: stopped, files packed'}); the job goes back to the queue pinned to ${to}`, record: moving };
  } catch (err) {
    // nothing moved: the VE stays here as it was (a cold move's stopped domain is started by ve start)
    writeVeJobRecord(deps.config.stateDir, stopped === '' ? record : { ...record, ownerState: 'stopped' });
    throw err;
  }
}
