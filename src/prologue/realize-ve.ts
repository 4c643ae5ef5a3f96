import { VeError } from '../core/ve-error.js';
import { decodeVeSpec, findSpecToken } from '../core/encode-ve-spec.js';
import { checkSpecFitsAllocation } from '../core/check-spec-fits-allocation.js';
import { buildDomainName } from '../core/build-domain-name.js';
import { readImageManifest, takesBootScript, takesSshKeys } from '../images/image-manifest.js';
import { buildGuestHostname } from '../core/build-etc-hosts.js';
import { seedLxcGuest } from '../host/seed-lxc-guest.js';
import { findImageMemoryFloor } from '../images/find-image-memory-floor.js';
import { checkSpecAgainstConfig } from '../core/check-spec-against-config.js';
import { findHostVirt } from '../config/load-config.js';
import { makeReadableDir } from '../host/make-readable-dir.js';
import { withVeJobLock, findPartJobDir, findVeJobFile, openJobBodyChannel, removeJobBodyChannel, writeVeJobRecord, writeVeRefusal, type VeJobRecord } from '../host/ve-job-record.js';
import { addDomainUuid, buildPeerUri, findIncomingMove, forgetOutgoingMove, migrateLiveDomain, rebaseOverlay, receiveColdMove, redefineSnapshots, type VeMoveManifest } from '../host/ve-migration.js';
import { buildDataDiskPath, findRootfsDir, type PreparedDisk } from '../host/ve-disks.js';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import type { ImageManifest } from '../images/image-manifest.js';
import type { LxcIdMap } from '../virt/domain-spec.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { findPartIndex, listDistinctHosts } from '../core/find-part-index.js';
import { countVeNodes } from '../core/ve-spec.js';
import { emitVeEvent } from '../host/record-ve-transition.js';
import { buildDomainXml } from '../virt/build-domain-xml.js';
import { buildConsoleLogPath, buildVeDomainSpec } from './build-ve-domain-spec.js';
import { recordKvmUnusable, resolveQemuAcceleration, type QemuAcceleration } from '../host/resolve-qemu-acceleration.js';
import { decideKvmFallback, describeKvmFailure } from '../core/decide-kvm-fallback.js';
import { createLxcIdRanges, type LxcIdRanges } from '../host/lxc-id-ranges.js';
import { findUserIds, type UserIds } from '../host/find-user-ids.js';
import { createVeConsole, type VeConsole } from '../host/ve-console.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { isVeJobEnding } from '../host/ve-job-ending.js';
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
  /** kvm or TCG for --type kvm; default: config virt.kvmAcceleration, probed once per boot and host */
  readonly resolveAcceleration?: () => Promise<QemuAcceleration>;
  /** a kvm start failed for KVM's own reason: remember TCG for this host; default: the probe cache in stateDir */
  readonly recordKvmUnusable?: (detail: string) => void;
  /** LXC user namespaces; default: slots under <stateDir>/lxc-ids from config virt.lxcIds */
  readonly lxcIds?: LxcIdRanges;
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
  /** the batch system's bound on host faults (TORQUE retries a prologue exit 2 forever): returns the error to exit with */
  readonly boundFault?: (err: unknown) => Promise<unknown>;
  /** mkfifo for the job body's channel; default execa */
  readonly run?: RunCommand;
  /** whether the batch system starts the job again after this error (decided with the exit code); default no */
  readonly isRetried?: (err: unknown) => boolean;
  /** the host the inventory last saw the VE on (read-only LDAP): where a requeued VE may be moving from (ve migrate) */
  readonly findPreviousHost?: (jobId: string) => Promise<string | undefined>;
}

/** a VE arriving from another host (ve migrate), as that host published it */
interface IncomingMove {
  readonly peerUri: string;
  readonly manifest: VeMoveManifest;
}

// Still no side effect: a requeued VE whose last host published a move to this host for this job is received, not made anew.
async function findMove(ctx: PelogContext, spec: VeSpec, startCount: number, deps: RealizeVeDeps): Promise<IncomingMove | undefined> {
  const migration = deps.config.virt.migration;
  if (migration === undefined || startCount <= 1 || ctx.sister || deps.findPreviousHost === undefined) return undefined;
  const from = await deps.findPreviousHost(ctx.jobId).catch((err: unknown) => { deps.log(`pbs-ve: job ${ctx.jobId}: the inventory cannot say where the VE ran before: ${String(err)}`); return undefined; });
  if (from === undefined || from === ctx.host) return undefined;
  const peerUri = buildPeerUri(migration, spec.type, from);
  const manifest = await findIncomingMove(peerUri, ctx.jobId, ctx.host, deps.config.stateDir);
  return manifest === undefined ? undefined : { peerUri, manifest };
}

export type RealizeOutcome =
  | { readonly kind: 'not-a-ve' }
  | { readonly kind: 'realized'; readonly domain: string; readonly ms: number };

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

// Phase 1 (no side effects): find the spec and which part of the VE is this host's.
async function findVeJob(ctx: PelogContext, deps: RealizeVeDeps): Promise<{ spec: VeSpec; job: BatchJob; hosts: readonly string[]; part: number } | undefined> {
  // a TORQUE sister holds no job script (only the mother superior does): there the batch system's copy of the spec counts
  const script = await deps.readJobScript().catch((err: unknown) => { if (ctx.sister) return undefined; throw err; });
  const token = script === undefined ? undefined : findSpecToken(script);
  if (token === undefined && !ctx.sister) return undefined;
  const job = await deps.batch.getJob(ctx.jobId);
  if (job === undefined) throw new VeError('job-unknown', 'environment', `job ${ctx.jobId}: the batch system does not know it`);
  const spec = token === undefined ? findSisterSpec(job) : decodeVeSpec(token);
  if (spec === undefined) return undefined;
  // a single-node VE is part 0 on the job's first host and nothing on others (a job submitted by hand with
  // more nodes than its spec); a part's index comes from the trusted host list only
  if (countVeNodes(spec) === 1 && ctx.sister) return undefined;
  const hosts = ctx.jobHosts ?? job.execHosts;
  const part = countVeNodes(spec) === 1 ? 0 : findPartIndex(ctx.host, hosts);
  if (part >= countVeNodes(spec)) return undefined;
  return { spec, job, hosts, part };
}

// Phase 2 (no side effects): the job got what its spec asks for.
function checkVeJob(spec: VeSpec, job: BatchJob, hosts: readonly string[], deps: RealizeVeDeps): void {
  // every bound ve create checked, again as root: a hand-made job script never went through ve create
  checkSpecAgainstConfig(spec, deps.config);
  checkSpecFitsAllocation(spec, job.resources);
  // a scheduler that packs "nodes" onto one host (Moab without EXACTNODE) would leave parts unrealized
  if (countVeNodes(spec) > 1 && listDistinctHosts(hosts).length < countVeNodes(spec)) {
    throw new VeError('parts-share-host', 'prereq', `nodes: the job got ${listDistinctHosts(hosts).length} distinct host(s) (${hosts.join(',')}) for ${countVeNodes(spec)} parts; one part per host`, { field: 'nodes' });
  }
}


/** What the prologue knows of a VE once its spec is read: enough to report it, even before anything exists. */
type VeIdentity = Pick<VeJobRecord, 'jobId' | 'spec' | 'owner' | 'host' | 'domain' | 'startCount' | 'part' | 'nodes' | 'nics'>;

/**
 * The prologue: a VE job's domain is defined, started and seen running before the job body starts.
 * Anything that fails after the first side effect is undone before the error is rethrown. Whatever
 * fails once the spec is known is reported, so `ve show` says why even when nothing was made: `failed`
 * when the batch system gives up on the job, `starting` with the reason when it retries it.
 * A job deleted meanwhile (its epilogue runs concurrently on TORQUE) ends `destroyed`, with nothing left.
 */
export async function realizeVe(ctx: PelogContext, deps: RealizeVeDeps): Promise<RealizeOutcome> {
  const started = deps.clock.now();
  let identity: VeIdentity | undefined;
  try {
    const found = await findVeJob(ctx, deps);
    if (found === undefined) return { kind: 'not-a-ve' };
    const nodes = countVeNodes(found.spec);
    identity = {
      jobId: ctx.jobId, spec: found.spec, owner: ctx.user, host: ctx.host, domain: buildDomainName(ctx.jobId, found.part), startCount: found.job.startCount,
      ...(nodes > 1 ? { part: found.part, nodes } : {}),
    };
    checkVeJob(found.spec, found.job, found.hosts, deps);
    return await realizeCheckedVe(ctx, identity, started, deps);
  } catch (err) {
    const final = deps.boundFault === undefined ? err : await deps.boundFault(err);
    if (final instanceof VeError && final.code === VE_CANCELLED) throw final;
    if (final instanceof VeError && final.kind === 'prereq') writeVeRefusal(deps.config.stateDir, ctx.jobId, final.message);
    if (identity !== undefined) await reportFailure(deps, identity, final);
    throw final;
  }
}

// The owner reads this in ve show: the reason, and whether the batch system will try again.
async function reportFailure(deps: RealizeVeDeps, identity: VeIdentity, err: unknown): Promise<void> {
  const reason = err instanceof Error ? err.message : String(err);
  const retried = deps.isRetried?.(err) ?? false;
  const state: VeState = retried ? 'starting' : 'failed';
  const text = retried ? `host fault on ${identity.host}, the job goes back to the queue: ${reason}` : reason;
  await emitVeEvent(deps, identity, state, 'prologue', text).catch((e: unknown) => { deps.log(`pbs-ve: could not record the failure: ${String(e)}`); });
}

/** the code of the error a prologue stops with when the job was deleted while its VE was starting */
export const VE_CANCELLED = 've-cancelled';

async function realizeCheckedVe(ctx: PelogContext, identity: VeIdentity, started: Date, deps: RealizeVeDeps): Promise<RealizeOutcome> {
  const { spec, domain } = identity;
  const part = identity.part ?? 0;
  const image = readImageManifest(deps.config.imageDir, spec.image);
  if (image.type !== spec.type) throw new VeError('image-type-mismatch', 'prereq', `image: "${spec.image}" is a ${image.type} image, the VE is ${spec.type}`, { field: 'image' });
  // a guest QEMU cannot even load is the owner's spec, not the host: refused before it can look like a host fault
  const floor = findImageMemoryFloor(image);
  if (spec.memoryMiB < floor) {
    throw new VeError('memory-below-image-floor', 'prereq', `memory: image "${spec.image}" needs at least ${floor} MiB to boot (its kernel and initrd are loaded into guest memory); the spec asks for ${spec.memoryMiB} MiB`, { field: 'memory' });
  }
  const hostname = buildGuestHostname(spec, part);
  const bootScript = spec.bootScript === undefined ? {} : { bootScript: spec.bootScript };
  if (!takesSshKeys(image) && (spec.sshKeys ?? []).length > 0) {
    throw new VeError('image-without-cloud-init', 'prereq', `ssh-key: image "${spec.image}" does not read a cloud-init seed and declares no SSH server, so SSH keys cannot reach it`, { field: 'ssh-key' });
  }
  if (spec.bootScript !== undefined && !takesBootScript(image)) {
    throw new VeError('image-without-boot-script', 'prereq', `run: image "${spec.image}" is a QEMU image that reads no cloud-init seed, so a boot script cannot reach it`, { field: 'run' });
  }
  // an LXC guest gets its identity (and boot script) in its rootfs copy: when the image serves SSH or the owner named any of it
  const lxcSeed = spec.type === 'lxc' && (image.ssh === true || spec.hostname !== undefined || (spec.hosts ?? []).length > 0 || spec.bootScript !== undefined)
    ? { hostname, hosts: spec.hosts ?? [], sshKeys: spec.sshKeys ?? [], ...bootScript }
    : undefined;
  const hostVirt = findHostVirt(deps.config, ctx.host);
  const uri = spec.type === 'lxc' ? hostVirt.lxcUri : hostVirt.qemuUri;
  const roUri = spec.type === 'lxc' ? hostVirt.roLxcUri : hostVirt.roQemuUri;
  const jobDir = findPartJobDir(deps.config.stateDir, ctx.jobId, part);
  const dataDisks = spec.disks ?? [];
  // still no side effect: the owner exists here, the host has the room, the accelerator is known
  const owner = await (deps.findOwner ?? findUserIds)(ctx.user);
  await deps.disks.checkSpace(image, dataDisks, join(deps.config.stateDir, 'jobs'));
  const acceleration = spec.type === 'kvm'
    ? await (deps.resolveAcceleration ?? (() => resolveQemuAcceleration(deps.config.virt.kvmAcceleration, deps.config.stateDir, undefined, ctx.host)))()
    : undefined;
  const net = await planNetworks(ctx, spec, part, deps);
  // only images that read a seed get one; its network-config needs the NICs' MACs from the plan
  const seed = image.cloudInit === true
    ? buildCloudInitSeed({ instanceId: domain, hostname, sshKeys: spec.sshKeys ?? [], hosts: spec.hosts ?? [], nics: net.interfaces.map((n) => ({ mac: n.mac, ...(n.address === undefined ? {} : { address: n.address }) })), ...bootScript })
    : undefined;
  const incoming = await findMove(ctx, spec, identity.startCount, deps);
  if (incoming !== undefined) deps.log(`job ${ctx.jobId}: receiving the VE from ${incoming.manifest.from} (${incoming.manifest.live ? 'live' : 'cold'} migration)`);
  const networks = deps.networks ?? createVeNetworks({ stateDir: deps.config.stateDir, log: deps.log });
  const veConsole = deps.console ?? createVeConsole();
  const lxcIds = spec.type === 'lxc' ? deps.lxcIds ?? createLxcIdRanges(deps.config.stateDir, deps.config.virt.lxcIds) : undefined;
  let record: VeJobRecord = { ...identity, uri, roUri, status: 'starting', reason: 'prologue', emulated: acceleration?.emulated ?? false, startedAt: started.toISOString(), nics: net.nics, networks: net.networks };

  // Phase 3: execute, under the VE's lock: an epilogue running concurrently (qdel during the prologue)
  // waits for it, and says so first (markVeJobEnding), so that the prologue stops between its steps
  makeReadableDir(deps.config.stateDir, jobDir);
  return withVeJobLock(jobDir, 'prologue', async () => {
    const stopIfEnding = (): void => {
      if (isVeJobEnding(deps.config.stateDir, ctx.jobId, ctx.host, started)) {
        throw new VeError(VE_CANCELLED, 'prereq', `job ${ctx.jobId} was deleted while its VE was starting`);
      }
    };
    writeVeJobRecord(deps.config.stateDir, record);
    const virt = await deps.openVirt(uri);
    try {
      stopIfEnding();
      await networks.ensure(uri, ctx.jobId, net.networks);
      stopIfEnding();
      const lxcIdMap = lxcIds?.allocate(domain);
      if (lxcIdMap !== undefined) {
        record = { ...record, lxcIdMap };
        writeVeJobRecord(deps.config.stateDir, record);
      }
      const disk = incoming !== undefined && !incoming.manifest.live
        ? await receiveMovedDisks(incoming, image, jobDir, dataDisks.length, lxcIdMap)
        : await deps.disks.prepare(image, jobDir, dataDisks, lxcIdMap);
      // a cold move brings the guest's own files: its identity was seeded where it started
      if (lxcSeed !== undefined && disk.rootfsDir !== undefined && incoming === undefined) seedLxcGuest(disk.rootfsDir, lxcIdMap, lxcSeed);
      const seedPath = seed === undefined ? undefined : await (deps.writeSeed ?? createVeSeedWriter())(jobDir, seed);
      const consoleLog = buildConsoleLogPath(jobDir);
      await veConsole.prepareLog(consoleLog, owner);
      const buildXml = (domainType: 'kvm' | 'qemu' | undefined): string => buildDomainXml(buildVeDomainSpec({
        spec, image, disk, domain, jobId: ctx.jobId, owner: ctx.user, jobDir, interfaces: net.interfaces, ...(domainType === undefined ? {} : { domainType }),
        ...(seedPath === undefined ? {} : { seedPath }), ...(lxcIdMap === undefined ? {} : { lxcIdMap }),
      }));
      stopIfEnding();
      let movedMs = 0;
      let used: QemuAcceleration | undefined;
      if (incoming?.manifest.live === true) {
        // the guest arrives running: its definition here is this host's own XML with the source's UUID
        const xmlPath = findVeJobFile(jobDir, 'migrationXml');
        writeFileNoFollow(xmlPath, addDomainUuid(buildXml(acceleration?.domainType), incoming.manifest.uuid ?? ''), { mode: 0o600 });
        movedMs = await migrateLiveDomain({ peerUri: incoming.peerUri, localUri: uri, domain, xmlPath, address: (deps.config.virt.migration?.address ?? '').replaceAll('%h', ctx.host) });
        used = acceleration;
      } else {
        used = await defineAndStartDomain(virt, domain, acceleration, buildXml, ctx.host, deps);
      }
      if (incoming !== undefined) {
        if (incoming.manifest.snapshotXmls.length > 0) await redefineSnapshots(uri, domain, incoming.manifest.snapshotXmls, jobDir, deps.log);
        await forgetOutgoingMove(incoming.peerUri, ctx.jobId, deps.log);
      }
      record = { ...record, emulated: used?.emulated ?? false };
      await virt.waitForState(domain, (s) => s === 'running', deps.config.virt.startTimeoutMs);
      // an LXC console is copied by the host's watcher (ve-host-watch), which sees the start;
      // QEMU's chardev may have (re)created the file: it stays the owner's
      if (spec.type !== 'lxc') await veConsole.prepareLog(consoleLog, owner);
      // from here the job body waits on this channel for the watcher's word
      await openJobBodyChannel(jobDir, owner, deps.run ?? runCommand);
      stopIfEnding();
      const moved = incoming === undefined ? '' : incoming.manifest.live
        ? `migrated live from ${incoming.manifest.from} in ${movedMs} ms, the guest never stopped; `
        : `migrated cold from ${incoming.manifest.from}: disks, snapshots and console log moved; `;
      const runningReason = `${moved}${used === undefined ? 'domain running' : `domain running, ${used.reason}`}`;
      writeVeJobRecord(deps.config.stateDir, { ...record, status: 'realized', reason: runningReason });
      await emitVeEvent(deps, record, 'running', 'prologue', runningReason);
      return { kind: 'realized', domain, ms: deps.clock.now().getTime() - started.getTime() };
    } catch (err) {
      await undoRealize(virt, deps, domain, jobDir, veConsole, () => networks.release(uri, ctx.jobId, net.networks));
      // only once the rootfs copy is gone: its files carry the range's ids
      try {
        if (!existsSync(join(jobDir, 'rootfs'))) lxcIds?.release(domain);
      } catch (e) {
        deps.log(`pbs-ve: cleanup step failed: releasing the LXC id range of ${domain}: ${String(e)}`);
      }
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof VeError && err.code === VE_CANCELLED) {
        // a normal cancellation, not a failure: the VE's last word is destroyed, and nothing of it is left
        const gone = `${reason}: stopped before it ran, nothing left`;
        writeVeJobRecord(deps.config.stateDir, { ...record, status: 'destroyed', reason: gone });
        await emitVeEvent(deps, record, 'destroyed', 'prologue', gone).catch((e: unknown) => { deps.log(`pbs-ve: could not record the cancellation: ${String(e)}`); });
      } else {
        writeVeJobRecord(deps.config.stateDir, { ...record, status: 'failed', reason });
      }
      throw err;
    } finally {
      await virt.close();
    }
  });
}

/**
 * Defines and starts the domain; a kvm start that KVM itself fails (a /dev/kvm without VT-x) is started
 * again under TCG and the host remembers that, so the VE runs and no node is drained for its accelerator.
 * Returns the acceleration the domain really got.
 */
async function defineAndStartDomain(
  virt: Virt, domain: string, acceleration: QemuAcceleration | undefined, buildXml: (domainType: 'kvm' | 'qemu' | undefined) => string, host: string, deps: RealizeVeDeps,
): Promise<QemuAcceleration | undefined> {
  await virt.defineDomain(buildXml(acceleration?.domainType));
  try {
    await virt.startDomain(domain);
    return acceleration;
  } catch (err) {
    if (acceleration === undefined || !decideKvmFallback(acceleration, err)) throw err;
    const detail = describeKvmFailure(err);
    deps.log(`pbs-ve: ${domain}: KVM failed to start it (${detail}); this host runs kvm VEs under TCG until reboot`);
    (deps.recordKvmUnusable ?? ((d: string) => { recordKvmUnusable(deps.config.stateDir, host, d); }))(`a VE failed to start under KVM: ${detail}`);
    await virt.destroyDomain(domain);
    await virt.undefineDomain(domain);
    await virt.defineDomain(buildXml('qemu'));
    await virt.startDomain(domain);
    return { domainType: 'qemu', emulated: true, reason: `emulated by QEMU TCG: KVM failed to start this VE (${detail})` };
  }
}

// A cold move's files take the place of a fresh copy of the image: the same paths a prepared disk has.
async function receiveMovedDisks(incoming: IncomingMove, image: ImageManifest, jobDir: string, dataDiskCount: number, lxcIdMap: LxcIdMap | undefined): Promise<PreparedDisk> {
  await receiveColdMove(incoming.peerUri, incoming.manifest, jobDir, lxcIdMap);
  const diskPath = image.format === 'dir' ? undefined : join(jobDir, 'disk.qcow2');
  if (diskPath !== undefined) await rebaseOverlay(diskPath, image.path, image.format);
  return { rootfsDir: image.format === 'dir' ? findRootfsDir(jobDir) : undefined, diskPath, dataDisks: Array.from({ length: dataDiskCount }, (_, i) => buildDataDiskPath(jobDir, i)) };
}

// Nothing half-made may stay behind: domain, definition and disk go, each attempt independent.
async function undoRealize(virt: Virt, deps: RealizeVeDeps, domain: string, jobDir: string, veConsole: VeConsole, releaseNetworks: () => Promise<unknown>): Promise<void> {
  const steps = [() => virt.destroyDomain(domain), () => virt.undefineDomain(domain), releaseNetworks, () => { removeJobBodyChannel(jobDir); return Promise.resolve(); }, () => deps.disks.remove(jobDir), () => removeVeSeed(jobDir)];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      deps.log(`pbs-ve: cleanup step failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
