import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { readImageManifest } from '../images/image-manifest.js';
import { findVe } from './show-ve.js';
import type { ListVesDeps, VeRow } from './list-ves.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import { buildRelayCommand, type VeSshTarget } from './build-ve-ssh-argv.js';
import { OP_MEMORY_MIB } from '../operations/submit-ve-operation.js';

export interface VeSshDeps extends ListVesDeps {
  readonly config: PbsVeConfig;
  readonly configDir: string;
  /** ms since the epoch: the relay's time limit is what is left of the VE's */
  readonly now: () => number;
}

/** an ssh session outlives no VE, and no relay asks TORQUE for less than this */
const MIN_SESSION_SECONDS = 60;

// The session's slot is held while it lasts: its limit is what is left of the VE's lease, within the site's maximum.
async function findSessionSeconds(deps: VeSshDeps, jobId: string): Promise<number> {
  const job = await deps.batch.getJob(jobId);
  const max = deps.config.batch.maxLeaseSeconds;
  const limit = job?.resources.walltimeSeconds;
  const left = limit === undefined || job?.startTime === undefined ? max : job.startTime + limit - Math.floor(deps.now() / 1000);
  return Math.max(MIN_SESSION_SECONDS, Math.min(max, left));
}

// Only the owner's own VEs: a VE of another owner is named as such, so the refusal is not a puzzle.
async function findOwnVe(deps: VeSshDeps, name: string, me: string): Promise<VeRow> {
  try {
    return await findVe(deps, name, me);
  } catch (err) {
    if (!(err instanceof VeError) || err.code !== 've-not-found') throw err;
    const other = await findVe(deps, name, undefined).catch(() => undefined);
    if (other === undefined || other.owner === me) throw err;
    throw new VeError('permission-denied', 'prereq', `name: VE "${name}" is ${other.owner}'s, not yours; ve ssh reaches only your own VEs`, { field: 'name' });
  }
}

/** Everything `ve ssh NAME` decides before ssh runs: the VE is the caller's, running, and its image serves SSH. */
export async function findVeSshTarget(deps: VeSshDeps, name: string, me: string, command: readonly string[], home: string): Promise<VeSshTarget> {
  const ve = await findOwnVe(deps, name, me);
  if (ve.state !== 'running' || ve.host === '') {
    throw new VeError('ve-not-running', 'prereq', `name: VE "${ve.name}" (job ${ve.jobId}) is ${ve.state}, not running; ve ssh reaches running VEs only`, { field: 'name' });
  }
  const image = readImageManifest(deps.config.imageDir, ve.image);
  if (image.ssh !== true && image.cloudInit !== true) {
    throw new VeError('image-without-ssh', 'prereq', `name: VE "${ve.name}" runs image "${ve.image}", which declares no SSH server (manifest "ssh": true or a cloud-init image)`, { field: 'name' });
  }
  const { nodePath, installDir } = deps.config;
  // the op job's queue and size where the batch system needs a job for the relay (TORQUE), so sessions count as ops
  const attach = deps.batch.buildAttachCommand({
    jobId: ve.jobId, host: ve.host, queue: deps.config.batch.opQueue ?? deps.config.batch.veQueue, name: `vessh-${ve.name}`.slice(0, 64),
    memoryMiB: Math.max(deps.config.minMemoryMiB, OP_MEMORY_MIB), walltimeSeconds: await findSessionSeconds(deps, ve.jobId),
    command: buildRelayCommand({ jobId: ve.jobId, nodePath, installDir, hostConfigDir: deps.config.hostConfigDir ?? deps.configDir }),
  });
  return { jobId: ve.jobId, host: ve.host, name: ve.name, user: image.sshUser ?? 'root', nodePath, installDir, attach, knownHostsFile: join(home, '.ssh', 'pbs-ve_known_hosts'), command };
}
