// `ve host drain` / `ve host resume` (admins): the batch system's side of host maintenance.
import { VeError, invalidField } from '../core/ve-error.js';
import { listHosts, type HostVe, type ListHostsDeps } from './list-hosts.js';
import { findDrainStoppedJobs, formatDrainNote, type HostVesOutcome } from '../operations/stop-host-ves.js';

/** Notes `ve host drain` sets start with this, so `ve host list` and the health hook tell them apart. */
export const DRAIN_NOTE_PREFIX = 'pbs-ve drain:';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

// Host names reach scontrol/pbsnodes as arguments: one plain name, checked before anything is asked.
export function validateHostName(host: string): string {
  if (!HOST_NAME.test(host)) throw invalidField('host', 'must be one host name as the batch system names it', host.slice(0, 80));
  return host;
}

// The reason becomes a Slurm Reason / TORQUE note: one printable line the admin chose.
function checkDrainArguments(host: string, reason: string): void {
  validateHostName(host);
  // eslint-disable-next-line no-control-regex
  if (reason.length > 200 || /[\u0000-\u001f\u007f]/.test(reason)) throw invalidField('reason', 'must be one line of at most 200 characters', reason.slice(0, 80));
}

/**
 * The seam for the operation path: the VEs a drain leaves on the host, which `ve host drain --migrate`
 * will move away and a plain drain will stop and start again after `ve host resume`. Today they keep
 * running where they are; the drain only keeps new VEs away.
 */
export async function listVesToMove(deps: ListHostsDeps, host: string): Promise<HostVe[]> {
  const row = (await listHosts(deps, undefined)).find((r) => r.name === host);
  return [...(row?.ves ?? [])];
}

// Prerequisite: the batch system knows the host (a typo must not look like a successful drain).
async function checkHostKnown(deps: ListHostsDeps, host: string): Promise<void> {
  const nodes = await deps.batch.listNodes();
  if (!nodes.some((n) => n.name === host)) {
    throw new VeError('host-not-found', 'prereq', `host: the batch system has no node "${host}" (nodes: ${nodes.map((n) => n.name).join(', ') || 'none'})`, { field: 'host' });
  }
}

/** how the VEs on a drained host are handled: stopped now and started by the resume (Clustrx stopall), or left running */
export type DrainVes =
  | { readonly kind: 'keep' }
  | { readonly kind: 'stop'; readonly stop: (ves: readonly HostVe[]) => Promise<HostVesOutcome> }
  /** moved to other hosts (ve migrate): nothing for the resume to start */
  | { readonly kind: 'migrate'; readonly migrate: (ves: readonly HostVe[]) => Promise<HostVesOutcome> };

/**
 * No new VE goes to the host. With `stop`, its VEs are stopped first (op jobs still reach a host that takes
 * jobs) and the node note names them for the resume; returns the VEs still on the host and what was stopped.
 */
export async function drainHost(deps: ListHostsDeps, host: string, options: { readonly reason: string; readonly by: string; readonly ves: DrainVes }): Promise<{ host: string; note: string; ves: HostVe[]; stopped: string[]; migrated: string[]; skipped: HostVesOutcome['skipped'] }> {
  checkDrainArguments(host, options.reason);
  await checkHostKnown(deps, host);
  const ves = options.ves;
  const outcome: HostVesOutcome = ves.kind === 'stop' ? await ves.stop(await listVesToMove(deps, host))
    : ves.kind === 'migrate' ? await ves.migrate(await listVesToMove(deps, host)) : { done: [], skipped: [] };
  const note = formatDrainNote(`${DRAIN_NOTE_PREFIX} ${options.reason === '' ? 'maintenance' : options.reason} (by ${options.by})`, ves.kind === 'stop' ? outcome.done : []);
  await deps.batch.setNodeOffline(host, note);
  return { host, note, ves: await listVesToMove(deps, host), stopped: ves.kind === 'stop' ? outcome.done : [], migrated: ves.kind === 'migrate' ? outcome.done : [], skipped: outcome.skipped };
}

/** The host takes new VEs again; the VEs its drain stopped (named in the node note) are started. */
export async function resumeHost(deps: ListHostsDeps, host: string, start: (jobIds: readonly string[]) => Promise<HostVesOutcome>): Promise<{ host: string; started: string[]; skipped: HostVesOutcome['skipped'] }> {
  checkDrainArguments(host, '');
  await checkHostKnown(deps, host);
  const note = (await deps.batch.listNodes()).find((n) => n.name === host)?.note;
  await deps.batch.setNodeOnline(host);
  const outcome = await start(findDrainStoppedJobs(note));
  return { host, started: outcome.done, skipped: outcome.skipped };
}
