import { VeError, invalidField } from '../core/ve-error.js';
import { validateVeSpec, type RawVeSpec, type SpecLimits } from '../core/validate-ve-spec.js';
import { formatSpecLine, encodeVeSpec } from '../core/encode-ve-spec.js';
import { readImageManifest, takesBootScript, takesSshKeys, type ImageManifest } from '../images/image-manifest.js';
import { findImageMemoryFloor } from '../images/find-image-memory-floor.js';
import { validateSshPublicKeys } from '../core/validate-ssh-public-key.js';
import { SPEC_COMMENT_PREFIX, SPEC_VARIABLE, findJobSpec } from '../batch/find-job-spec.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import { countVeNodes, type VeSpec } from '../core/ve-spec.js';
import { planVeNetworks } from '../prologue/plan-ve-networks.js';
import { findUserGroups } from '../host/find-user-groups.js';
import { checkUserLimits } from '../core/check-user-limits.js';
import { isFinalState } from '../core/ve-state.js';
import { listVes, type VeRow } from './list-ves.js';
import type { UserLimits } from '../config/pbs-ve-config.js';

export interface CreateVeDeps {
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly config: PbsVeConfig;
  readonly configDir: string;
  readonly owner: string;
  /** the caller's own public keys, offered to cloud-init images when the spec names none */
  readonly defaultSshKeys?: () => readonly string[];
  /** default: id -Gn (asked only when a declared network limits groups) */
  readonly findGroups?: (user: string) => Promise<string[]>;
  /** a note for the user that does not stop the submission (LDAP unreachable); default stderr */
  readonly warn?: (line: string) => void;
}

// '%' only for a "%h" host placeholder (src/config/load-config.ts findConfigDir)
const SAFE_PATH = /^\/[A-Za-z0-9_./+%-]*$/;

/**
 * The VE job's script: the spec line the prologue trusts, then the job body that keeps the job alive: a
 * POSIX shell blocked on its job directory's FIFO until the host's watcher says the VE ended
 * (scripts/job-body.sh). The compute hosts' state directory ("%h" = the host) tells it where that is.
 */
export function buildVeJobScript(spec: VeSpec, config: PbsVeConfig): string {
  const stateDir = config.hostStateDir ?? config.stateDir;
  for (const [field, path] of [['installDir', config.installDir], ['hostStateDir', stateDir]] as const) {
    if (!SAFE_PATH.test(path)) throw new VeError('invalid-config', 'environment', `config ${field}: must be an absolute path of [A-Za-z0-9_./+%-]`, { field });
  }
  return [
    '#!/bin/sh',
    formatSpecLine(spec),
    `# pbs-ve: this job keeps VE "${spec.name}" alive; the prologue creates it, the epilogue removes it`,
    `PBS_VE_STATE_DIR=${stateDir} exec /bin/sh ${config.installDir}/scripts/job-body.sh`,
    '',
  ].join('\n');
}

/** bounds no host of any cluster exceeds: what is left for the cluster-dependent check */
const ANY_HOST_MAX_VCPUS = 4096;
const ANY_HOST_MAX_MEMORY_MIB = 64 * 1024 * 1024;

// Arguments first, asking no service (a batch system that is down must not hide a bad name):
// every rule that does not depend on the cluster's hosts.
export function checkCreateArguments(raw: RawVeSpec, config: PbsVeConfig): VeSpec {
  return validateVeSpec(raw, { maxVcpus: ANY_HOST_MAX_VCPUS, maxMemoryMiB: ANY_HOST_MAX_MEMORY_MIB, maxLeaseSeconds: config.batch.maxLeaseSeconds, minMemoryMiB: config.minMemoryMiB,
    maxNodes: config.batch.maxNodes ?? 1, ...(config.network === undefined ? {} : { maxNics: config.network.maxNics }) });
}

// A prerequisite: what the cluster can offer (largest host with the feature, queue limit), as the bounds
// validateVeSpec checks a spec against; one node listing.
export async function findClusterBounds(raw: RawVeSpec, deps: Pick<CreateVeDeps, 'batch' | 'config'>): Promise<SpecLimits> {
  const type = typeof raw.type === 'string' ? raw.type : '';
  const nodes = (await deps.batch.listNodes()).filter((n) => n.features.includes(type));
  if (type !== '' && (type === 'kvm' || type === 'lxc') && nodes.length === 0) {
    throw invalidField('type', `no host of this cluster offers node feature "${type}"`, raw.type);
  }
  // with an op queue, each VE host keeps one CPU for op jobs that VEs cannot take (docs/design.md, "Capacity")
  const opCpus = deps.config.batch.opQueue === undefined ? 0 : 1;
  const maxVcpus = Math.max(1, ...nodes.map((n) => n.cpus - opCpus));
  const maxMemoryMiB = Math.max(deps.config.minMemoryMiB, ...nodes.map((n) => n.memoryMiB ?? 0));
  // a VE of N nodes needs N hosts with the feature: one part per host
  const maxNodes = Math.max(1, Math.min(deps.config.batch.maxNodes ?? 1, nodes.length));
  return { maxVcpus, maxMemoryMiB, maxLeaseSeconds: deps.config.batch.maxLeaseSeconds, minMemoryMiB: deps.config.minMemoryMiB, maxNodes,
    ...(deps.config.network === undefined ? {} : { maxNics: deps.config.network.maxNics }),
  };
}

// The spec against what the cluster can offer.
async function checkSpecFitsCluster(raw: RawVeSpec, deps: CreateVeDeps): Promise<VeSpec> {
  return validateVeSpec(raw, await findClusterBounds(raw, deps));
}

// The user may not see the image's files (catalog data is root's): then the prologue alone checks the floor.
function findCreateMemoryFloor(image: ImageManifest): number {
  try {
    return findImageMemoryFloor(image);
  } catch {
    return 0;
  }
}

/** the owner's VEs and queued jobs of the name, asked for while the cluster's size is being checked */
interface NameLookups {
  readonly live: Promise<readonly { jobId: string }[]>;
  readonly queued: Promise<readonly BatchJob[]>;
}

// Both listings depend only on the owner and the name: started at once, they overlap the node listing
// (each is a round trip to slapd or slurmctld; one after another they were most of `ve create`'s time).
function startNameLookups(spec: VeSpec, deps: CreateVeDeps): NameLookups {
  const lookups = { live: listLiveVes(spec, deps), queued: deps.batch.listJobs({ queue: deps.config.batch.veQueue, owner: deps.owner }) };
  // a check that fails first leaves these unawaited: their failure is then nobody's news
  lookups.live.catch(() => undefined);
  lookups.queued.catch(() => undefined);
  return lookups;
}

/** The image and network checks of a spec (nothing about its name): the image to seed from. */
export async function checkImagePrerequisites(spec: VeSpec, deps: CreateVeDeps): Promise<ImageManifest> {
  const image = readImageManifest(deps.config.imageDir, spec.image);
  if (image.type !== spec.type) throw invalidField('image', `"${spec.image}" is a ${image.type} image; use --type ${image.type} or another image`, spec.image);
  const floor = findCreateMemoryFloor(image);
  if (spec.memoryMiB < floor) throw invalidField('memory', `image "${spec.image}" needs at least ${floor} MiB to boot`, spec.memoryMiB);
  if (spec.sshKeys !== undefined && !takesSshKeys(image)) {
    throw invalidField('ssh-key', `image "${spec.image}" does not read a cloud-init seed (ve image add --cloud-init) and declares no SSH server (manifest "ssh": true), so the key could not reach the guest`, spec.image);
  }
  if (spec.bootScript !== undefined && !takesBootScript(image)) {
    throw invalidField('run', `image "${spec.image}" is a QEMU image that reads no cloud-init seed (ve image add --cloud-init), so a boot script could not reach the guest`, spec.image);
  }
  // the prologue decides again as root; this only spares the user a job that would be refused
  const restricted = (spec.networks ?? []).some((n) => { const d = deps.config.network?.networks[n]; return d !== undefined && d.groups.length > 0; });
  const ownerGroups = restricted ? await (deps.findGroups ?? findUserGroups)(deps.owner) : [];
  planVeNetworks({ spec, jobId: 'submit', owner: deps.owner, ownerGroups, host: 'submit', config: deps.config.network, submit: true });
  return image;
}

// Prerequisites without side effects: the image is in the catalog, the owner has no live VE of that name.
async function checkCreatePrerequisites(spec: VeSpec, deps: CreateVeDeps, lookups: NameLookups): Promise<ImageManifest> {
  const image = await checkImagePrerequisites(spec, deps);
  const live = await lookups.live;
  const queued = (await lookups.queued).filter((j) => j.state !== 'completed' && findJobSpec(j)?.name === spec.name);
  if (live.length > 0 || queued.length > 0) {
    const jobId = live[0]?.jobId ?? queued[0]?.jobId ?? '?';
    throw invalidField('name', `you already have a VE named "${spec.name}" (job ${jobId}); destroy it or pick another name`, spec.name);
  }
  if (deps.config.limits !== undefined) await checkOwnerLimits(spec, deps, deps.config.limits);
  return image;
}

/**
 * The per-user limits, said clearly before anything is submitted. TORQUE enforces the VE count itself
 * (max_user_queuable, installed by `ve admin install server`); Slurm without slurmdbd cannot, so there this
 * check is what holds users of `ve` to the limits (docs/design.md "Per-user limits").
 */
async function checkOwnerLimits(spec: VeSpec, deps: CreateVeDeps, limits: UserLimits): Promise<void> {
  let held: readonly VeRow[];
  try {
    held = (await listVes({ inventory: deps.inventory, batch: deps.batch, veQueue: deps.config.batch.veQueue }, { all: false, owner: deps.owner })).filter((r) => !isFinalState(r.state));
  } catch (err) {
    if (!(err instanceof VeError) || err.kind !== 'environment') throw err;
    (deps.warn ?? ((l: string) => { process.stderr.write(`${l}\n`); }))(`ve: warning: your VEs could not be counted (${err.message}); per-user limits are left to the batch system`);
    return;
  }
  checkUserLimits(held, { vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, nodes: countVeNodes(spec) }, limits);
}

/**
 * Submitting writes nothing to LDAP, so LDAP being down does not stop it: every live VE has a live job, and
 * the batch system's listing below still finds the owner's VE of that name. What only LDAP knows (a VE
 * whose job just ended, still stopping) is a name the owner may see twice in history; the prologue does
 * not depend on it.
 */
async function listLiveVes(spec: VeSpec, deps: CreateVeDeps): Promise<readonly { jobId: string }[]> {
  try {
    return await deps.inventory.listVes({ owner: deps.owner, name: spec.name });
  } catch (err) {
    if (!(err instanceof VeError) || err.kind !== 'environment') throw err;
    (deps.warn ?? ((l: string) => { process.stderr.write(`${l}\n`); }))(`ve: warning: the inventory is unreachable (${err.message}); name "${spec.name}" checked against your batch jobs only`);
    return [];
  }
}

// An image that takes keys, with no --ssh-key, gets the caller's own keys, so the VE is reachable as with ssh-copy-id.
export function addDefaultSshKeys(spec: VeSpec, image: ImageManifest, deps: CreateVeDeps): VeSpec {
  if (spec.sshKeys !== undefined || !takesSshKeys(image) || deps.defaultSshKeys === undefined) return spec;
  const keys = validateSshPublicKeys(deps.defaultSshKeys());
  return keys.length === 0 ? spec : { ...spec, sshKeys: keys };
}

/** `ve create`'s checks, in order, asking nothing of the batch system but listings: the spec to submit. */
export async function checkVeCreate(raw: RawVeSpec, deps: CreateVeDeps): Promise<VeSpec> {
  const lookups = startNameLookups(checkCreateArguments(raw, deps.config), deps);
  const checked = await checkSpecFitsCluster(raw, deps);
  return addDefaultSshKeys(checked, await checkCreatePrerequisites(checked, deps, lookups), deps);
}

// What listings and reconcile read of a VE: no keys, /etc/hosts or boot script (Slurm's comment holds 1024 characters).
function listedSpec(spec: VeSpec): VeSpec {
  const listed: Record<string, unknown> = { ...spec, sshKeys: [], hosts: [] };
  delete listed['bootScript'];
  return listed as unknown as VeSpec;
}

/** The VE's one batch job, for a spec checkVeCreate returned; prints nothing, writes nothing to LDAP. */
export async function submitVeJob(spec: VeSpec, deps: Pick<CreateVeDeps, 'batch' | 'config' | 'configDir'>): Promise<string> {
  // the copies for listing and reconcile (job variable, Slurm comment) leave the SSH keys out: Slurm refuses
  // a comment of more than 1024 characters and no reader of them needs keys (nor a cluster's /etc/hosts, nor a boot script); the prologue reads the script
  const token = encodeVeSpec(listedSpec(spec));
  return deps.batch.submit({
    name: `ve-${spec.name}`,
    queue: deps.config.batch.veQueue,
    // the port's sizes are per node, like the spec's: each part gets vcpus and memory of its own
    cpus: spec.vcpus,
    memoryMiB: spec.memoryMiB,
    walltimeSeconds: spec.leaseSeconds,
    features: [spec.type],
    nodeCount: countVeNodes(spec),
    variables: { [SPEC_VARIABLE]: token },
    comment: SPEC_COMMENT_PREFIX + token,
    script: buildVeJobScript(spec, deps.config),
  });
}

/** `ve create`: one batch job whose resource request is the VE's size. Nothing is written to LDAP. */
export async function createVe(raw: RawVeSpec, deps: CreateVeDeps): Promise<{ jobId: string; spec: VeSpec }> {
  const spec = await checkVeCreate(raw, deps);
  return { jobId: await submitVeJob(spec, deps), spec };
}
