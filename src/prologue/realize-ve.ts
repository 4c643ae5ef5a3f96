import { VeError } from '../core/ve-error.js';
import { decodeVeSpec, findSpecToken } from '../core/encode-ve-spec.js';
import { checkSpecFitsAllocation } from '../core/check-spec-fits-allocation.js';
import { buildDomainName } from '../core/build-domain-name.js';
import { readImageManifest } from '../images/image-manifest.js';
import { findImageMemoryFloor } from '../images/find-image-memory-floor.js';
import { checkSpecAgainstConfig } from '../core/check-spec-against-config.js';
import { findHostVirt } from '../config/load-config.js';
import { findPartJobDir, findRecordJobDir, writeVeJobRecord, writeVeRefusal, type VeJobRecord } from '../host/ve-job-record.js';
import { findPartIndex, listDistinctHosts } from '../core/find-part-index.js';
import { countVeNodes } from '../core/ve-spec.js';
import { nextEventSeq } from '../events/next-event-seq.js';
import { buildDomainXml } from '../virt/build-domain-xml.js';
import { buildConsoleLogPath, buildVeDomainSpec } from './build-ve-domain-spec.js';
import { resolveQemuAcceleration, type QemuAcceleration } from '../host/resolve-qemu-acceleration.js';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import { createVeConsole, findConsolePty, type VeConsole } from '../host/ve-console.js';
import { join } from 'node:path';
import { buildCloudInitSeed } from '../core/build-cloud-init-seed.js';
import { createVeSeedWriter, removeVeSeed, type WriteVeSeed } from '../host/ve-seed.js';
import type { Batch, BatchJob, PelogContext } from '../batch/batch.js';
import { SPEC_VARIABLE, findJobSpec } from '../batch/find-job-spec.js';
import { planVeNetworks, type VeNetworkPlan } from './plan-ve-networks.js';
import { createVeNetworks, type VeNetworks } from '../host/ve-networks.js';
import { findUserGroups } from '../host/find-user-groups.js';
import type { Virt } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../events/event-sink.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { VeDisks } from '../host/ve-disks.js';
import type { VeSpec } from '../core/ve-spec.js';
import type { VeState } from '../core/ve-state.js';
import type { EventSource, VeEvent } from '../core/ve-event.js';

export interface RealizeVeDeps {
  readonly batch: Batch;
  readonly config: PbsVeConfig;
  readonly clock: Clock;
  readonly events: EventSink;
  readonly disks: VeDisks;
  readonly openVirt: (uri: string) => Promise<Virt>;
  /** the job script as the batch system hands it to a prologue (TORQUE $8, Slurm scontrol) */
  readonly readJobScript: () => Promise<string | undefined>;
  readonly log: (line: string) => void;
  /** kvm or TCG for --type kvm; default: config virt.kvmAcceleration, probed once per boot */
  readonly resolveAcceleration?: () => Promise<QemuAcceleration>;
  /** default: the owner's ids from getent */
  readonly findOwner?: (user: string) => Promise<UserIds>;
  /** default: console capture with the configured node and installation */
  readonly console?: VeConsole;
  /** cloud-init images: writes the VE's NoCloud seed image; default genisoimage */
  readonly writeSeed?: WriteVeSeed;
  /** default: transient libvirt networks through virsh, state in <stateDir>/networks */
  readonly networks?: VeNetworks;
  /** default: the owner's groups from id -Gn (asked only when a declared network limits groups) */
  readonly findGroups?: (user: string) => Promise<string[]>;
}

export type RealizeOutcome =
  | { readonly kind: 'not-a-ve' }
  | { readonly kind: 'realized'; readonly domain: string; readonly ms: number };

// Events carry the whole VE description so the monitor never has to ask the host.
export async function emitVeEvent(
  deps: { readonly events: EventSink; readonly clock: Clock; readonly config: PbsVeConfig },
  record: Pick<VeJobRecord, 'jobId' | 'spec' | 'owner' | 'host' | 'domain' | 'startCount' | 'part' | 'nodes' | 'nics'>,
  state: VeState,
  source: EventSource,
  reason: string,
): Promise<void> {
  // each part counts its own seqs (its own directory): the monitor folds parts separately
  const seq = await nextEventSeq(findRecordJobDir(deps.config.stateDir, record), record.startCount);
  const event: VeEvent = {
    version: 1,
    jobId: record.jobId,
    seq,
    state,
    at: deps.clock.now().toISOString(),
    host: record.host,
    owner: record.owner,
    name: record.spec.name,
    type: record.spec.type,
    image: record.spec.image,
    vcpus: record.spec.vcpus,
    memoryMiB: record.spec.memoryMiB,
    domain: record.domain,
    source,
    reason: reason.slice(0, 256),
    ...(record.nodes !== undefined && record.nodes > 1 ? { part: record.part ?? 0, nodes: record.nodes } : {}),
    ...(record.nics === undefined ? {} : { nics: record.nics }),
  };
  await deps.events.emit([event]);
}

/**
 * The spec as the batch system holds it (VE_SPEC variable, Slurm comment), for sisters without the script.
 * Re-validated and checked against the allocation like the script's; a multi-node job whose owner replaced
 * the variables (qalter -v) before it started has none, and its sister parts are refused.
 */
function findSisterSpec(job: BatchJob): VeSpec | undefined {
  const spec = findJobSpec(job);
  if (spec !== undefined || job.variables[SPEC_VARIABLE] !== undefined) return spec;
  // a multi-node job without any copy: a VE job only if its name says so, and then a refusal the owner can read
  if (!job.name.startsWith('ve-')) return undefined;
  throw new VeError('spec-missing', 'prereq', `job ${job.jobId}: this sister host has no job script and the job's ${SPEC_VARIABLE} variable is gone (qalter -v replaced it?)`, { field: 'spec' });
}

// Still no side effect: a network the owner may not use, or too many NICs for this cluster, refuses the VE.
async function planNetworks(ctx: PelogContext, spec: VeSpec, part: number, deps: RealizeVeDeps): Promise<VeNetworkPlan> {
  const declared = Object.values(deps.config.network?.networks ?? {});
  const needGroups = (spec.networks ?? []).length > 0 && declared.some((n) => n.groups.length > 0);
  const ownerGroups = needGroups ? await (deps.findGroups ?? findUserGroups)(ctx.user) : [];
  return planVeNetworks({ spec, jobId: ctx.jobId, part, owner: ctx.user, ownerGroups, host: ctx.host, config: deps.config.network });
}

// Phase 1+2 (no side effects): find the spec, check it and the host can serve it.
async function checkVeJob(ctx: PelogContext, deps: RealizeVeDeps): Promise<{ spec: VeSpec; startCount: number; part: number } | undefined> {
  // a TORQUE sister holds no job script (only the mother superior does): there the batch system's copy of the spec counts
  const script = await deps.readJobScript().catch((err: unknown) => { if (ctx.sister) return undefined; throw err; });
  const token = script === undefined ? undefined : findSpecToken(script);
  if (token === undefined && !ctx.sister) return undefined;
  const job = await deps.batch.getJob(ctx.jobId);
  if (job === undefined) throw new VeError('job-unknown', 'environment', `job ${ctx.jobId}: the batch system does not know it`);
  const decoded = token === undefined ? findSisterSpec(job) : decodeVeSpec(token);
  if (decoded === undefined) return undefined;
  // every bound ve create checked, again as root: a hand-made job script never went through ve create
  const spec = checkSpecAgainstConfig(decoded, deps.config);
  checkSpecFitsAllocation(spec, job.resources, deps.batch.kind === 'torque' ? 'job' : 'node');
  // a single-node VE is part 0 on the job's first host and nothing on others (a job submitted by hand with
  // more nodes than its spec); a part's index comes from the trusted host list only
  if (countVeNodes(spec) === 1 && ctx.sister) return undefined;
  const hosts = ctx.jobHosts ?? job.execHosts;
  // a scheduler that packs "nodes" onto one host (Moab without EXACTNODE) would leave parts unrealized
  if (countVeNodes(spec) > 1 && listDistinctHosts(hosts).length < countVeNodes(spec)) {
    throw new VeError('parts-share-host', 'prereq', `nodes: the job got ${listDistinctHosts(hosts).length} distinct host(s) (${hosts.join(',')}) for ${countVeNodes(spec)} parts; one part per host`, { field: 'nodes' });
  }
  const part = countVeNodes(spec) === 1 ? 0 : findPartIndex(ctx.host, hosts);
  if (part >= countVeNodes(spec)) return undefined;
  return { spec, startCount: job.startCount, part };
}

/**
 * The prologue: a VE job's domain is defined, started and seen running before the job body starts.
 * Anything that fails after the first side effect is undone before the error is rethrown.
 */
export async function realizeVe(ctx: PelogContext, deps: RealizeVeDeps): Promise<RealizeOutcome> {
  try {
    return await realizeCheckedVe(ctx, deps);
  } catch (err) {
    if (err instanceof VeError && err.kind === 'prereq') writeVeRefusal(deps.config.stateDir, ctx.jobId, err.message);
    throw err;
  }
}

async function realizeCheckedVe(ctx: PelogContext, deps: RealizeVeDeps): Promise<RealizeOutcome> {
  const started = Date.now();
  const checked = await checkVeJob(ctx, deps);
  if (checked === undefined) return { kind: 'not-a-ve' };
  const { spec, startCount, part } = checked;
  const nodes = countVeNodes(spec);
  const domain = buildDomainName(ctx.jobId, part);
  const base = { jobId: ctx.jobId, spec, owner: ctx.user, host: ctx.host, domain, startCount, ...(nodes > 1 ? { part, nodes } : {}) };
  const image = readImageManifest(deps.config.imageDir, spec.image);
  if (image.type !== spec.type) throw new VeError('image-type-mismatch', 'prereq', `image: "${spec.image}" is a ${image.type} image, the VE is ${spec.type}`, { field: 'image' });
  // a guest QEMU cannot even load is the owner's spec, not the host: refused before it can look like a host fault
  const floor = findImageMemoryFloor(image);
  if (spec.memoryMiB < floor) {
    throw new VeError('memory-below-image-floor', 'prereq', `memory: image "${spec.image}" needs at least ${floor} MiB to boot (its kernel and initrd are loaded into guest memory); the spec asks for ${spec.memoryMiB} MiB`, { field: 'memory' });
  }
  // built (and so checked) before any side effect; only images that read a seed get one
  const seed = image.cloudInit === true ? buildCloudInitSeed({ instanceId: domain, hostname: part === 0 ? spec.name : `${spec.name}-${String(part)}`, sshKeys: spec.sshKeys ?? [] }) : undefined;
  if (seed === undefined && (spec.sshKeys ?? []).length > 0) {
    throw new VeError('image-without-cloud-init', 'prereq', `ssh-key: image "${spec.image}" does not read a cloud-init seed, so SSH keys cannot reach it`, { field: 'ssh-key' });
  }
  const hostVirt = findHostVirt(deps.config, ctx.host);
  const uri = spec.type === 'lxc' ? hostVirt.lxcUri : hostVirt.qemuUri;
  const roUri = spec.type === 'lxc' ? hostVirt.roLxcUri : hostVirt.roQemuUri;
  const jobDir = findPartJobDir(deps.config.stateDir, ctx.jobId, part);
  const dataDisks = spec.disks ?? [];
  // still no side effect: the owner exists here, the host has the room, the accelerator is known
  const owner = await (deps.findOwner ?? findUserIds)(ctx.user);
  await deps.disks.checkSpace(image, dataDisks, join(deps.config.stateDir, 'jobs'));
  const acceleration = spec.type === 'kvm'
    ? await (deps.resolveAcceleration ?? (() => resolveQemuAcceleration(deps.config.virt.kvmAcceleration, deps.config.stateDir)))()
    : undefined;
  const net = await planNetworks(ctx, spec, part, deps);
  const networks = deps.networks ?? createVeNetworks({ stateDir: deps.config.stateDir, log: deps.log });
  const veConsole = deps.console ?? createVeConsole({ nodePath: deps.config.nodePath, installDir: deps.config.installDir });
  const runningReason = acceleration === undefined ? 'domain running' : `domain running, ${acceleration.reason}`;
  const record: VeJobRecord = { ...base, uri, roUri, status: 'starting', reason: 'prologue', emulated: acceleration?.emulated ?? false, startedAt: new Date(started).toISOString(), nics: net.nics, networks: net.networks };

  // Phase 3: execute
  writeVeJobRecord(deps.config.stateDir, record);
  const virt = await deps.openVirt(uri);
  try {
    await networks.ensure(uri, ctx.jobId, net.networks);
    const disk = await deps.disks.prepare(image, jobDir, dataDisks);
    const seedPath = seed === undefined ? undefined : await (deps.writeSeed ?? createVeSeedWriter())(jobDir, seed);
    const consoleLog = buildConsoleLogPath(jobDir);
    await veConsole.prepareLog(consoleLog, owner);
    const xml = buildDomainXml(buildVeDomainSpec({
      spec, image, disk, domain, jobId: ctx.jobId, owner: ctx.user, jobDir, interfaces: net.interfaces, ...(acceleration === undefined ? {} : { domainType: acceleration.domainType }),
      ...(seedPath === undefined ? {} : { seedPath }),
    }));
    await virt.defineDomain(xml);
    await virt.startDomain(domain);
    await virt.waitForState(domain, (s) => s === 'running', deps.config.virt.startTimeoutMs);
    if (spec.type === 'lxc') {
      const pty = await findConsolePty(await virt.getDomainXml(domain));
      if (pty === undefined) throw new VeError('console-capture-failed', 'environment', `domain ${domain}: libvirt reports no console pty`);
      await veConsole.startCapture(jobDir, pty, consoleLog, owner);
    } else {
      // QEMU's chardev may have (re)created the file: it stays the owner's
      await veConsole.prepareLog(consoleLog, owner);
    }
    writeVeJobRecord(deps.config.stateDir, { ...record, status: 'realized', reason: runningReason });
    await emitVeEvent(deps, record, 'running', 'prologue', runningReason);
    return { kind: 'realized', domain, ms: Date.now() - started };
  } catch (err) {
    await undoRealize(virt, deps, domain, jobDir, veConsole, () => networks.release(uri, ctx.jobId, net.networks));
    const reason = err instanceof Error ? err.message : String(err);
    writeVeJobRecord(deps.config.stateDir, { ...record, status: 'failed', reason });
    await emitVeEvent(deps, record, 'failed', 'prologue', reason).catch((e: unknown) => { deps.log(`pbs-ve: could not record failure: ${String(e)}`); });
    throw err;
  } finally {
    await virt.close();
  }
}

// Nothing half-made may stay behind: domain, definition and disk go, each attempt independent.
async function undoRealize(virt: Virt, deps: RealizeVeDeps, domain: string, jobDir: string, veConsole: VeConsole, releaseNetworks: () => Promise<unknown>): Promise<void> {
  const steps = [() => virt.destroyDomain(domain), () => virt.undefineDomain(domain), releaseNetworks, () => veConsole.stopCapture(jobDir), () => deps.disks.remove(jobDir), () => removeVeSeed(jobDir)];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      deps.log(`pbs-ve: cleanup step failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
