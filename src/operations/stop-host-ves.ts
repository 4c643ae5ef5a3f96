// Host maintenance the Clustrx way (stopall / startall): `ve host drain` stops the VEs on the host through the
// one operation path, and names them in the batch system's node note, so `ve host resume` starts exactly those.
import { JOB_ID_PATTERN } from '../core/build-domain-name.js';
import { VeError } from '../core/ve-error.js';
import { runVeOperationJob, type SnapshotVeDeps, type SnapshotVeOptions } from './submit-ve-operation.js';

export interface HostVeRef {
  readonly name: string;
  readonly jobId: string;
  readonly state: string;
}

export interface HostVesOutcome {
  /** job ids of the VEs the operation reached its state for */
  readonly done: string[];
  /** the ones it could not, and why (a multi-node VE, a VE already stopped by its owner, a failure) */
  readonly skipped: { readonly jobId: string; readonly name: string; readonly why: string }[];
}

const STOPPED_MARK = '; stopped: ';

// What a drain leaves in the node note: its own text plus the VEs it stopped, for the resume.
export function formatDrainNote(note: string, stopped: readonly string[]): string {
  return stopped.length === 0 ? note : `${note}${STOPPED_MARK}${stopped.join(',')}`;
}

// Pure: the VE jobs a drain stopped, from the node note; anything that is not a job id list is ignored.
export function findDrainStoppedJobs(note: string | undefined): string[] {
  const at = note?.lastIndexOf(STOPPED_MARK) ?? -1;
  if (note === undefined || at < 0) return [];
  return note.slice(at + STOPPED_MARK.length).split(',').map((s) => s.trim()).filter((id) => JOB_ID_PATTERN.test(id));
}

// One at a time: each op job needs the host's spare cpu, and a failure of one never stops the others.
async function runOnEach(deps: SnapshotVeDeps, ves: readonly HostVeRef[], request: Parameters<typeof runVeOperationJob>[3], options: SnapshotVeOptions): Promise<HostVesOutcome> {
  const outcome: HostVesOutcome = { done: [], skipped: [] };
  for (const ve of ves) {
    try {
      await runVeOperationJob(deps, ve.jobId, undefined, request, options);
      outcome.done.push(ve.jobId);
    } catch (err) {
      outcome.skipped.push({ jobId: ve.jobId, name: ve.name, why: err instanceof VeError ? `${err.code}: ${err.message}` : String(err) });
    }
  }
  return outcome;
}

/** Stops every running or suspended VE of the list (a clean shutdown, destroyed after timeoutSeconds). */
export async function stopHostVes(deps: SnapshotVeDeps, ves: readonly HostVeRef[], timeoutSeconds: number, options: SnapshotVeOptions): Promise<HostVesOutcome> {
  const live = ves.filter((v) => v.state === 'running' || v.state === 'suspended');
  const result = await runOnEach(deps, live, { kind: 'stop', timeoutSeconds }, options);
  for (const v of ves) if (!live.includes(v)) result.skipped.push({ jobId: v.jobId, name: v.name, why: `${v.state}: left as it is` });
  return result;
}

/**
 * ve host drain --migrate: moves every running or stopped VE of the list away (the destination chosen per VE,
 * never this host): live where libvirt can (a QEMU VE without snapshots), cold otherwise.
 */
export async function migrateHostVes(deps: SnapshotVeDeps, ves: readonly HostVeRef[], options: SnapshotVeOptions): Promise<HostVesOutcome> {
  const outcome: HostVesOutcome = { done: [], skipped: [] };
  for (const ve of ves) {
    if (ve.state !== 'running' && ve.state !== 'stopped') {
      outcome.skipped.push({ jobId: ve.jobId, name: ve.name, why: `${ve.state}: left as it is` });
      continue;
    }
    try {
      try {
        await runVeOperationJob(deps, ve.jobId, undefined, { kind: 'migrate', live: ve.state === 'running' }, options);
      } catch (err) {
        // containers, stopped VEs and VEs with snapshots cannot move live: the same move, cold
        if (!(err instanceof VeError) || !['migration-live-unsupported', 'migration-live-snapshots', 've-wrong-state'].includes(err.code) || ve.state !== 'running') throw err;
        await runVeOperationJob(deps, ve.jobId, undefined, { kind: 'migrate', live: false }, options);
      }
      outcome.done.push(ve.jobId);
    } catch (err) {
      outcome.skipped.push({ jobId: ve.jobId, name: ve.name, why: err instanceof VeError ? `${err.code}: ${err.message}` : String(err) });
    }
  }
  return outcome;
}

/** Starts the VEs a drain stopped. */
export async function startHostVes(deps: SnapshotVeDeps, jobIds: readonly string[], options: SnapshotVeOptions): Promise<HostVesOutcome> {
  return runOnEach(deps, jobIds.map((jobId) => ({ name: jobId, jobId, state: 'stopped' })), { kind: 'start' }, options);
}
