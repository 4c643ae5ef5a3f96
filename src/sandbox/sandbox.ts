import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidField, VeError } from '../core/ve-error.js';
import { runCommand } from '../core/run-command.js';
import { ensureHostKey, hostKeyPath } from '../events/host-key.js';
import { probeKvmCached } from '../host/resolve-qemu-acceleration.js';
import { findFreePortBase, isPortBaseFree, SANDBOX_PORT_SPAN } from './find-free-port-base.js';
import { planSandboxUnderlay, startSandboxUnderlay, stopSandboxUnderlay } from './sandbox-underlay.js';
import { DEFAULT_SLOTS_PER_CPU, findTorqueHostSlots } from '../batch/torque-slots.js';

/** Where the project lives (dist/src/sandbox/sandbox.js -> the checkout). */
export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPTS = join(PROJECT_DIR, 'scripts/sandbox');

export type SandboxBatch = 'slurm' | 'torque';

/** One simulated host: its own configuration and pbs-ve state, as a real host has /etc/pbs-ve and /var/lib/pbs-ve. */
export interface SandboxHost {
  readonly configDir: string;
  readonly stateDir: string;
  /** TORQUE: the MOM's home (mom_priv ...) */
  readonly momHome?: string;
}

export interface SandboxInfo {
  readonly dir: string;
  readonly batch: SandboxBatch;
  /** the first port of the sandbox's range (Slurm +0..+4, TORQUE MOMs +10..+15, slapd +50) */
  readonly portBase: number;
  /** the submit host's configuration (users run `ve` with it): no LDAP write credentials, no host keys */
  readonly configDir: string;
  /** the vemon node's configuration: LDAP write credentials and all host keys (ve-monitor, ve image add) */
  readonly vemonConfigDir: string;
  readonly vemonEnv: Readonly<Record<string, string>>;
  /** Slurm only ('' on TORQUE) */
  readonly slurmConf: string;
  /** TORQUE only: the server name clients talk to and the clients' directory */
  readonly torque?: { readonly server: string; readonly binDir: string; readonly sbinDir: string; readonly momPortBase: number; readonly nodesSpec: string };
  readonly ldapUrl: string;
  readonly baseDn: string;
  readonly writerDn: string;
  readonly writerPassword: string;
  /** libvirt URIs of the VE hosts */
  readonly nodes: Readonly<Record<string, { readonly lxcUri: string; readonly qemuUri: string; readonly roLxcUri: string; readonly roQemuUri: string }>>;
  /** every simulated host (node1, node2, mon1): its own config and state directory */
  readonly hosts: Readonly<Record<string, SandboxHost>>;
  /** environment a user of the sandbox needs: SLURM_CONF or PBS_DEFAULT+PATH, PBS_VE_CONFIG_DIR */
  readonly env: Readonly<Record<string, string>>;
  /** catalog images the sandbox registered: tiny (lxc), tinyvm (kvm) when its kernel could be downloaded, and the extra images asked for */
  readonly images: readonly string[];
  /** why tinyvm is missing */
  readonly imageProblem?: string;
}

export const VE_NODES = ['node1', 'node2'] as const;

function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

// A sandbox step failing must say which one and show its output: it is the user's first contact.
async function runStep(what: string, script: string, args: readonly string[], env: Record<string, string>, timeoutMs = 180_000): Promise<string> {
  const r = await runCommand('bash', [join(SCRIPTS, script), ...args], { env, timeoutMs });
  if (r.exitCode !== 0) {
    throw new VeError('sandbox-step-failed', 'environment', `sandbox: ${what} failed (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

function socketUris(dir: string, node: string): SandboxInfo['nodes'][string] {
  const rw = join(dir, 'libvirt', node, 'run', 'libvirt-sock');
  const ro = `${rw}-ro`;
  return { lxcUri: `lxc:///system?socket=${rw}`, qemuUri: `qemu:///system?socket=${rw}`, roLxcUri: `lxc:///system?socket=${ro}`, roQemuUri: `qemu:///system?socket=${ro}` };
}

// Hooks run with a near-empty environment: the wrappers carry absolute paths and the config dir ("%h" =
// the simulated host the hook runs for: one Prolog path serves every slurmd of the machine).
function writeHookWrapper(file: string, entry: string, configDir: string, partitions?: readonly string[]): void {
  // as `ve admin install slurm-hooks` writes them: jobs of other partitions (vemon's event jobs) never start node
  const filter = partitions === undefined ? '' : `case "\${SLURM_JOB_PARTITION-}" in ${partitions.join('|')}|'') ;; *) exit 0 ;; esac\n`;
  writeFileSync(file, `#!/bin/sh\n${filter}PBS_VE_CONFIG_DIR=${configDir} exec ${process.execPath} ${join(PROJECT_DIR, 'dist/src', entry)} "$@"\n`, { mode: 0o755 });
  chmodSync(file, 0o755);
}

/** the sandbox's QEMU guest build is cached here across sandboxes (PBS_VE_IMAGE_CACHE overrides) */
export const TINYVM_CACHE_DIR = process.env['PBS_VE_IMAGE_CACHE'] ?? '/var/cache/pbs-ve/tinyvm';

// One cache per version of the guest's build scripts: sandboxes of different checkouts on one machine
// (a branch and main) then each keep their own build instead of rebuilding the shared one in turn.
function findTinyVmCacheDir(): string {
  const hash = createHash('sha256');
  for (const script of ['make-qemu-image.sh', 'copy-dropbear.sh']) hash.update(readFileSync(join(SCRIPTS, script)));
  return join(TINYVM_CACHE_DIR, hash.digest('hex').slice(0, 12));
}

/** the Debian + Slurm LXC rootfs is cached here across sandboxes, one directory per version of its build script */
export const DEBIAN_SLURM_CACHE_DIR = process.env['PBS_VE_DEBIAN_SLURM_CACHE'] ?? '/var/cache/pbs-ve/debian-slurm';

/** images a sandbox builds only when asked (slow to build, not every test needs them) */
export const EXTRA_SANDBOX_IMAGES = ['debian-slurm'] as const;
export type ExtraSandboxImage = typeof EXTRA_SANDBOX_IMAGES[number];

// debootstrap takes 40-45 s here (more on a slow mirror): built once per machine and script version, then hard-linked into each sandbox's catalog
// (the prologue copies an image, never writes into it); another file system gets a copy.
async function prepareDebianSlurm(imageDir: string, log: (line: string) => void): Promise<void> {
  const cache = join(DEBIAN_SLURM_CACHE_DIR, createHash('sha256').update(readFileSync(join(SCRIPTS, 'make-debian-slurm-image.sh'))).digest('hex').slice(0, 12));
  log(`building (or taking from ${cache}) the Debian + Slurm LXC image (debootstrap: about 45 s, once per machine)`);
  const rootfs = parseKeyValues(await runStep('image debian-slurm', 'make-debian-slurm-image.sh', [cache], {}, 30 * 60_000))['ROOTFS'];
  if (rootfs === undefined) throw new VeError('sandbox-step-failed', 'environment', 'sandbox: make-debian-slurm-image.sh printed no ROOTFS');
  const target = join(imageDir, 'debian-slurm.rootfs');
  if (!existsSync(join(target, 'init.sh'))) {
    rmSync(target, { recursive: true, force: true });
    const linked = await runCommand('cp', ['-al', '--', rootfs, target], { timeoutMs: 300_000 });
    if (linked.exitCode !== 0) {
      rmSync(target, { recursive: true, force: true });
      const copied = await runCommand('cp', ['-a', '--', rootfs, target], { timeoutMs: 600_000 });
      if (copied.exitCode !== 0) throw new VeError('sandbox-step-failed', 'environment', `sandbox: copying ${rootfs}: ${copied.stderr.trim()}`);
    }
  }
  // as tiny: SSH (dropbear) with the seeded keys, the init runs the role's boot script
  writeFileSync(join(imageDir, 'debian-slurm.json'), `${JSON.stringify({ name: 'debian-slurm', type: 'lxc', format: 'dir', path: 'debian-slurm.rootfs', init: ['/bin/sh', '/init.sh'], os: 'Debian 12 minbase, Slurm 22.05, munge, dropbear', ssh: true }, null, 2)}\n`);
}

// tiny (LXC) is always there; tinyvm (QEMU, direct kernel boot) only when its kernel could be had.
function writeCatalog(dir: string, tinyvm: { readonly cmdline: string } | undefined): void {
  // tiny serves SSH (dropbear, make-lxc-image.sh): ve create seeds the owner's keys into its rootfs copy
  writeFileSync(join(dir, 'tiny.json'), `${JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny.rootfs', init: ['/bin/sh', '/init.sh'], os: 'busybox', ssh: true }, null, 2)}\n`);
  if (tinyvm === undefined) {
    rmSync(join(dir, 'tinyvm.json'), { force: true });
    return;
  }
  const manifest = { name: 'tinyvm', type: 'kvm', format: 'qcow2', path: 'tinyvm/base.qcow2', kernel: 'tinyvm/vmlinuz', initrd: 'tinyvm/initramfs.cpio.gz', cmdline: tinyvm.cmdline, os: 'busybox initramfs, Debian cloud kernel' };
  writeFileSync(join(dir, 'tinyvm.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

// The kernel comes from Debian's archive: without network the sandbox still comes up, with LXC only.
async function prepareTinyVm(imageDir: string, log: (line: string) => void): Promise<{ cmdline: string } | { problem: string }> {
  let out: string;
  try {
    out = await runStep('image tinyvm', 'make-qemu-image.sh', [findTinyVmCacheDir()], {}, 600_000);
  } catch (err) {
    return { problem: (err as Error).message.split('\n').filter((l) => l.trim() !== '').slice(-2).join(' ') };
  }
  const built = parseKeyValues(out);
  const target = join(imageDir, 'tinyvm');
  mkdirSync(target, { recursive: true, mode: 0o755 });
  for (const [key, file] of [['KERNEL', 'vmlinuz'], ['INITRD', 'initramfs.cpio.gz'], ['DISK', 'base.qcow2']] as const) {
    const from = built[key];
    if (from === undefined) return { problem: `make-qemu-image.sh printed no ${key}` };
    const r = await runCommand('cp', ['--reflink=auto', '--', from, join(target, file)], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) return { problem: `copying ${from}: ${r.stderr.trim()}` };
  }
  log(`QEMU image tinyvm ready (kernel ${built['KERNEL_VERSION'] ?? '?'})`);
  return { cmdline: built['CMDLINE'] ?? 'console=ttyS0 panic=-1' };
}

export interface SandboxOptions {
  readonly dir: string;
  /** the batch system: slurm (default) or torque (a real TORQUE 6.1, built once from ../shared/torque when missing) */
  readonly batch?: SandboxBatch;
  /** first port of the range; default: a free range found at start */
  readonly portBase?: number;
  readonly log?: (line: string) => void;
  /** Slurm's SlurmdTimeout in seconds: how soon a node whose slurmd died is declared down (slurm.sh default 10) */
  readonly slurmdTimeout?: number;
  /** start of this sandbox's bridge and NIC names (1-6 of [a-z0-9]); default: derived from dir */
  readonly networkPrefix?: string;
  /** run pbs-ve's health hook as the batch system's node check (Slurm HealthCheckProgram every 10 s,
   *  TORQUE $node_check_script): off by default, since tests that kill libvirtd would see nodes taken out */
  readonly healthCheck?: boolean;
  /** cpus of every node (Slurm CPUs, TORQUE np); default 2. More than the machine has is fine: a boot storm of tiny VEs needs room */
  readonly nodeCpus?: number;
  /** Slurm's PrologEpilogTimeout in seconds (slurm.sh default 60); a boot storm starts dozens of Prologs per
   *  node at once on 2 shared cores, and one past the timeout drains its node */
  readonly prologEpilogTimeout?: number;
  /** Slurm's MessageTimeout in seconds (slurm.sh default 10): slurmd confirms a batch launch to slurmctld only
   *  after its Prolog, so Prologs slower than this (128 at once on a node of 2 cores) abort their launches and
   *  Slurm drains the node ("Prolog error") */
  readonly messageTimeout?: number;
  /** memory of every node in MiB (Slurm RealMemory; TORQUE's MOMs ignore job memory, $ignmem); default 1000 */
  readonly nodeMemoryMiB?: number;
  /** false: private networks stay host-local with DHCP (no underlay namespaces, no network.overlay); default true:
   *  each VE host gets an underlay namespace on a shared fabric and private networks span the hosts over VXLAN */
  readonly overlay?: boolean;
  /** Slurm only: accounting (a private MariaDB, slurmdbd, AccountingStorageEnforce=associations,limits,qos, pbs-ve's QOS
   *  on the VE partition), so Slurm itself enforces per-user limits; off by default (it adds seconds to every start) */
  readonly accounting?: boolean;
  /** with accounting: users besides root and the sandbox user that get an association (every submitter needs one) */
  readonly accountingUsers?: readonly string[];
  /** images built only when asked: debian-slurm (Debian 12 with Slurm, debootstrap: about 45 s the first time on a machine) */
  readonly images?: readonly ExtraSandboxImage[];
}

/** the sandbox's VXLAN range: VNIs are derived from (owner, network) into it */
export const SANDBOX_OVERLAY = { kind: 'vxlan', vniBase: 10_000, vniCount: 1_000_000, port: 4789, mode: 'unicast', mtu: 1450 } as const;

// Every sandbox's bridges live in the one network namespace of this machine: names must differ per sandbox.
export function deriveNetworkPrefix(dir: string): string {
  return `s${createHash('sha256').update(dir).digest('hex').slice(0, 4)}`;
}

/** the vemon node of the sandbox (Slurm partition / TORQUE property vemon) */
export const VEMON_NODE = 'mon1';
/** the ordinary user the demo and the tests act as (created once, kept) */
export const SANDBOX_USER = 'pbsve-user1';
/** the account TORQUE event jobs run as (qsub refuses root); a system account without a login shell, as an admin makes it */
export const EVENT_ACCOUNT = 'pbsve';
const TORQUE_PREFIX = process.env['TORQUE_PREFIX'] ?? '/opt/torque';
/** TORQUE's build script, where a checkout has the steering repo's shared/ beside it (CI does) */
export const TORQUE_BUILD_SCRIPT = resolve(PROJECT_DIR, '../shared/torque/build-torque.sh');

// A sandbox without an installed TORQUE builds one (about 7 minutes), or says how to get one.
async function ensureTorque(log: (line: string) => void): Promise<void> {
  if (existsSync(join(TORQUE_PREFIX, 'sbin/pbs_server')) && existsSync(join(TORQUE_PREFIX, 'bin/qsub'))) return;
  if (!existsSync(TORQUE_BUILD_SCRIPT)) {
    throw new VeError('torque-missing', 'environment', `TORQUE is not installed in ${TORQUE_PREFIX} and ${TORQUE_BUILD_SCRIPT} is not here: build TORQUE 6.1 from its public source (github.com/adaptivecomputing/torque, branch 6.1-dev) with --prefix=${TORQUE_PREFIX}, or set TORQUE_PREFIX to an installed one`);
  }
  log(`building TORQUE into ${TORQUE_PREFIX} with ${TORQUE_BUILD_SCRIPT} (about 7 minutes, once per machine)`);
  const r = await runCommand('bash', [TORQUE_BUILD_SCRIPT], { env: { PREFIX: TORQUE_PREFIX }, timeoutMs: 40 * 60_000 });
  if (r.exitCode !== 0) throw new VeError('torque-build-failed', 'environment', `building TORQUE failed (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
}

// An admin's service account: no login shell, its own group; TORQUE runs event jobs as it. And the sandbox's user.
async function ensureEventAccount(): Promise<void> {
  if ((await runCommand('id', ['-u', SANDBOX_USER], {})).exitCode !== 0) await runCommand('useradd', ['-m', '-s', '/bin/bash', SANDBOX_USER], {});
  if ((await runCommand('id', ['-u', EVENT_ACCOUNT], {})).exitCode === 0) return;
  const r = await runCommand('useradd', ['--system', '--user-group', '--create-home', '--home-dir', `/var/lib/${EVENT_ACCOUNT}`, '--shell', '/usr/sbin/nologin', EVENT_ACCOUNT], {});
  if (r.exitCode !== 0 && (await runCommand('id', ['-u', EVENT_ACCOUNT], {})).exitCode !== 0) {
    throw new VeError('sandbox-step-failed', 'environment', `useradd ${EVENT_ACCOUNT}: ${r.stderr.trim()}`);
  }
}

// `ve admin ...` as an admin types it, with the host's own config: the sandbox is installed the documented way.
async function runAdmin(args: readonly string[], configDir: string, what: string): Promise<string> {
  const r = await runCommand(process.execPath, [join(PROJECT_DIR, 'dist/src/qsub-wrappers/main.js'), 'admin', ...args], { env: { PBS_VE_CONFIG_DIR: configDir }, timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new VeError('sandbox-step-failed', 'environment', `sandbox: ${what} failed (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface HostPaths { readonly configDir: string; readonly stateDir: string }

const watchPidFile = (stateDir: string): string => join(stateDir, 'host-watch.pid');

// Each VE host runs its watcher (systemd on a real host): the job bodies and LXC consoles depend on it.
async function startHostWatch(host: string, paths: HostPaths): Promise<void> {
  const r = await runCommand('start-stop-daemon', [
    '--start', '--background', '--make-pidfile', '--pidfile', watchPidFile(paths.stateDir), '--exec', process.execPath, '--',
    join(PROJECT_DIR, 'dist/src/host-watch/main.js'), '--host', host,
  ], { env: { PBS_VE_CONFIG_DIR: paths.configDir }, timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new VeError('sandbox-step-failed', 'environment', `sandbox: ve-host-watch for ${host}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/** stops a simulated host's watcher (a test stops and starts it again to show a restart changes nothing) */
export async function stopHostWatch(dir: string, host: string): Promise<void> {
  await runCommand('start-stop-daemon', ['--stop', '--oknodo', '--quiet', '--pidfile', watchPidFile(hostPaths(dir, host).stateDir), '--exec', process.execPath, '--retry', 'TERM/10/KILL/2'], { timeoutMs: 20_000 });
}

/** starts a simulated host's watcher again */
export async function restartHostWatch(dir: string, host: string): Promise<void> {
  await startHostWatch(host, hostPaths(dir, host));
}

function hostPaths(dir: string, host: string): HostPaths {
  return { configDir: join(dir, 'hosts', host, 'etc/pbs-ve'), stateDir: join(dir, 'hosts', host, 'state') };
}

// A node size is written into slurm.conf and TORQUE's nodes file: whole numbers only, with sane bounds.
function checkNodeSize(options: SandboxOptions): void {
  if (options.nodeCpus !== undefined && (!Number.isInteger(options.nodeCpus) || options.nodeCpus < 1 || options.nodeCpus > 4096)) {
    throw invalidField('node-cpus', 'must be a whole number from 1 to 4096', options.nodeCpus);
  }
  if (options.nodeMemoryMiB !== undefined && (!Number.isInteger(options.nodeMemoryMiB) || options.nodeMemoryMiB < 100 || options.nodeMemoryMiB > 16 * 1024 * 1024)) {
    throw invalidField('node-memory', 'must be from 100 MiB to 16 TiB', options.nodeMemoryMiB);
  }
}

/** Brings up the whole local cluster the tests use: slapd, one libvirtd per VE host, Slurm or TORQUE with a vemon node. */
export async function startSandbox(options: SandboxOptions): Promise<SandboxInfo> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  checkNodeSize(options);
  const batchKind = options.batch ?? 'slurm';
  if (batchKind === 'torque') await ensureTorque(log);
  const portBase = options.portBase ?? await findFreePortBase();
  if (options.portBase !== undefined && !(await isPortBaseFree(portBase))) {
    throw new VeError('sandbox-ports-taken', 'environment', `sandbox: a port of ${portBase}..${portBase + SANDBOX_PORT_SPAN - 1} is in use (Address already in use); leave out --port-base to get a free range`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const allHosts = [...VE_NODES, VEMON_NODE];
  // as on a real cluster: the submit host's config (users; no credentials), and every host its own
  // config and state; only the vemon node holds the LDAP write credentials and every host's key
  const configDir = join(dir, 'etc/pbs-ve');
  const hosts = Object.fromEntries(allHosts.map((h) => [h, hostPaths(dir, h)])) as Record<string, HostPaths>;
  const vemon = hostPaths(dir, VEMON_NODE);
  const imageDir = join(dir, 'images');
  for (const d of [configDir, imageDir, join(dir, 'bin'), join(dir, 'work'), ...allHosts.flatMap((h) => [hostPaths(dir, h).configDir, join(hostPaths(dir, h).stateDir, 'jobs'), join(hostPaths(dir, h).stateDir, 'log')])]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
    chmodSync(d, 0o755);
  }
  // users' working directory: job output files land here, not in a /tmp shared with other clusters
  chmodSync(join(dir, 'work'), 0o1777);

  log(`starting slapd (ports from ${portBase})`);
  const ldap = parseKeyValues(await runStep('slapd', 'slapd.sh', ['start'], { LDAP_DIR: join(dir, 'ldap'), LDAP_PORT: String(portBase + 50) }));
  const ldapUrl = ldap['LDAP_URL'];
  const baseDn = ldap['BASE_DN'];
  const writerDn = ldap['WRITER_DN'];
  const writerPassword = ldap['WRITER_PASSWORD'];
  if (ldapUrl === undefined || baseDn === undefined || writerDn === undefined || writerPassword === undefined) {
    throw new VeError('sandbox-step-failed', 'environment', 'sandbox: slapd.sh did not print LDAP_URL/BASE_DN/WRITER_DN/WRITER_PASSWORD');
  }
  const networkPrefix = options.networkPrefix ?? deriveNetworkPrefix(dir);
  const underlay = options.overlay === false ? undefined : planSandboxUnderlay(networkPrefix, VE_NODES);
  if (underlay !== undefined) {
    log(`underlay: a network namespace per VE host on fabric bridge ${underlay.fabric} (${Object.values(underlay.hosts).map((h) => `${h.netns} ${h.address}`).join(', ')})`);
    await startSandboxUnderlay(dir, underlay);
  }
  log(`starting libvirtd for ${VE_NODES.join(' and ')}`);
  await runStep('libvirtd', 'libvirt.sh', ['start'], { LIBVIRT_DIR: join(dir, 'libvirt'), NODES: VE_NODES.join(' ') });
  if (!existsSync(join(imageDir, 'tiny.rootfs', 'init.sh'))) {
    log('building the tiny busybox LXC image');
    await runStep('image tiny', 'make-lxc-image.sh', [join(imageDir, 'tiny.rootfs')], {});
  }
  log('building (or taking from the cache) the tiny QEMU image');
  const tinyvm = await prepareTinyVm(imageDir, log);
  if ('problem' in tinyvm) log(`no QEMU image: ${tinyvm.problem}; the sandbox has the LXC image "tiny" only`);
  writeCatalog(imageDir, 'problem' in tinyvm ? undefined : tinyvm);
  if (options.images?.includes('debian-slurm') === true) await prepareDebianSlurm(imageDir, log);
  const nodes = Object.fromEntries(VE_NODES.map((n) => [n, socketUris(dir, n)]));
  const slurmConf = batchKind === 'slurm' ? join(dir, 'slurm/etc/slurm.conf') : '';
  // every host-side process finds its own host's directory through "%h" (src/config/load-config.ts)
  const perHost = (leaf: 'etc/pbs-ve' | 'state'): string => join(dir, 'hosts', '%h', leaf);
  const batch = batchKind === 'slurm'
    ? { kind: 'slurm', slurmConf, veQueue: 'batch', opQueue: 'veop', vemonQueue: 'vemon', maxLeaseSeconds: 86400, timeoutMs: 30000 }
    : { kind: 'torque', binDir: join(TORQUE_PREFIX, 'bin'), veQueue: 'batch', vemonQueue: 'vemon', maxLeaseSeconds: 86400, timeoutMs: 30000, eventSubmitUser: EVENT_ACCOUNT };
  const common = {
    batch,
    ldap: { url: ldapUrl, baseDn, timeoutMs: 10000 },
    monitorConfigDir: perHost('etc/pbs-ve'),
    hostConfigDir: perHost('etc/pbs-ve'),
    hostStateDir: perHost('state'),
    // ve migrate: each simulated host reaches the others' libvirtd through its socket; guests' memory over loopback
    virt: {
      hosts: nodes, startTimeoutMs: 60000, kvmAcceleration: 'auto',
      migration: { peerLxcUri: socketUris(dir, '%h').lxcUri, peerQemuUri: socketUris(dir, '%h').qemuUri, address: '127.0.0.1' },
    },
    imageDir,
    nodePath: process.execPath,
    installDir: PROJECT_DIR,
    minMemoryMiB: 16,
    // all simulated hosts' bridges share this machine's network namespace; their underlays have one each
    // (VXLAN devices are made there and moved next to the bridges); "lab" is a declared (shared) network
    network: {
      maxNics: 4,
      hosts: {
        default: { prefix: networkPrefix },
        ...Object.fromEntries(Object.entries(underlay?.hosts ?? {}).map(([h, u]) => [h, { prefix: networkPrefix, underlay: { address: u.address, netns: u.netns } }])),
      },
      networks: { lab: {} },
      ...(underlay === undefined ? {} : { overlay: SANDBOX_OVERLAY }),
    },
  };
  const writeConfig = (target: string, stateDir: string): void => {
    const config = { ...common, ldapWriteCredentialsFile: join(target, 'ldap-write.json'), stateDir };
    writeFileSync(join(target, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });
    chmodSync(join(target, 'config.json'), 0o644);
  };
  writeConfig(configDir, join(dir, 'state'));
  for (const h of allHosts) writeConfig(hosts[h]?.configDir ?? '', hosts[h]?.stateDir ?? '');
  log(`starting ve-host-watch on ${VE_NODES.join(' and ')}`);
  for (const h of VE_NODES) await startHostWatch(h, hostPaths(dir, h));
  writeFileSync(join(vemon.configDir, 'ldap-write.json'), `${JSON.stringify({ bindDn: writerDn, password: writerPassword })}\n`, { mode: 0o600 });
  chmodSync(join(vemon.configDir, 'ldap-write.json'), 0o600);
  // event authentication (docs/design.md): one key per VE host, made on that host; the vemon node holds them all
  mkdirSync(join(vemon.configDir, 'host-keys'), { recursive: true, mode: 0o700 });
  for (const node of VE_NODES) {
    const own = hosts[node]?.configDir ?? '';
    ensureHostKey(own, node);
    copyFileSync(hostKeyPath(own, node), hostKeyPath(vemon.configDir, node));
    chmodSync(hostKeyPath(vemon.configDir, node), 0o600);
  }
  // the install-time KVM check (cached per boot) runs while the batch system starts, not in the first VE's prologue
  const kvmProbe = probeKvmCached(hosts['node1']?.stateDir ?? '', undefined, { host: 'node1' }).catch((err: unknown) => ({ usable: false, detail: String(err) }));
  let env: Record<string, string>;
  let vemonEnv: Record<string, string>;
  let torque: SandboxInfo['torque'];
  const hostInfo: Record<string, SandboxHost> = { ...hosts };
  if (batchKind === 'slurm') {
    writeHookWrapper(join(dir, 'bin/prolog'), 'prologue/main.js', perHost('etc/pbs-ve'), [batch.veQueue, batch.opQueue ?? batch.veQueue]);
    writeHookWrapper(join(dir, 'bin/epilog'), 'epilogue/main.js', perHost('etc/pbs-ve'), [batch.veQueue]);
    writeHookWrapper(join(dir, 'bin/health-check'), 'mom-hooks/main.js', perHost('etc/pbs-ve'));
    let accounting: Record<string, string> = {};
    if (options.accounting === true) {
      log(`starting MariaDB for slurmdbd (port ${portBase + 51})`);
      const db = parseKeyValues(await runStep('mariadb', 'mariadb.sh', ['start'], { DB_DIR: join(dir, 'mariadb'), DB_PORT: String(portBase + 51) }));
      accounting = {
        DB_PORT: db['DB_PORT'] ?? '', DB_USER: db['DB_USER'] ?? 'slurm', DB_PASSWORD: db['DB_PASSWORD'] ?? '',
        ACCOUNTING_USERS: ['root', SANDBOX_USER, ...(options.accountingUsers ?? [])].join(' '),
      };
    }
    log(`starting the Slurm cluster (munged, ${options.accounting === true ? 'slurmdbd, ' : ''}slurmctld, slurmd ${allHosts.join(' ')})`);
    await runStep('slurm', 'slurm.sh', ['start'], {
      ...accounting,
      SLURM_DIR: join(dir, 'slurm'), SLURM_PORT_BASE: String(portBase), PROLOG: join(dir, 'bin/prolog'), EPILOG: join(dir, 'bin/epilog'),
      ...(options.healthCheck === true ? { HEALTH_CHECK_PROGRAM: join(dir, 'bin/health-check'), HEALTH_CHECK_INTERVAL: '10' } : {}),
      ...(options.slurmdTimeout === undefined ? {} : { SLURMD_TIMEOUT: String(options.slurmdTimeout) }),
      ...(options.prologEpilogTimeout === undefined ? {} : { PROLOG_EPILOG_TIMEOUT: String(Math.round(options.prologEpilogTimeout)) }),
      ...(options.messageTimeout === undefined ? {} : { MESSAGE_TIMEOUT: String(Math.round(options.messageTimeout)) }),
      ...(options.nodeCpus === undefined ? {} : { NODE_CPUS: String(options.nodeCpus) }),
      ...(options.nodeMemoryMiB === undefined ? {} : { NODE_MEMORY: String(options.nodeMemoryMiB) }),
    });
    await checkSlurmctldIsOurs(slurmConf);
    // as docs/admin-slurm.md has the admin do it: pbs-ve's QOS gets the config's limits (none in the sandbox's config)
    if (options.accounting === true) await runAdmin(['install', 'server'], configDir, 've admin install server');
    env = { SLURM_CONF: slurmConf, PBS_VE_CONFIG_DIR: configDir };
    vemonEnv = { SLURM_CONF: slurmConf, PBS_VE_CONFIG_DIR: vemon.configDir };
  } else {
    await ensureEventAccount();
    // TORQUE's vemon jobs run as the event account: the vemon node's secrets and spool are its own
    await runAdmin(['install', 'vemon'], vemon.configDir, 've admin install vemon');
    log(`starting TORQUE (trqauthd, pbs_server, pbs_sched; pbs_mom ${allHosts.join(' ')})`);
    const momBase = portBase + 10;
    // every host keeps its operation slot(s) beside its cpus (docs/design.md, "Capacity")
    const np = findTorqueHostSlots(options.nodeCpus ?? 2, DEFAULT_SLOTS_PER_CPU);
    const torqueEnv = { SANDBOX_DIR: dir, TORQUE_PREFIX, MOM_PORT_BASE: String(momBase), TORQUE_NODES: `node1:${np}:lxc,kvm node2:${np}:lxc,kvm ${VEMON_NODE}:${np}:vemon` };
    const out = parseKeyValues(await runStep('torque', 'torque.sh', ['start'], torqueEnv));
    const server = out['PBS_SERVER'] ?? '';
    torque = { server, binDir: out['TORQUE_BIN'] ?? join(TORQUE_PREFIX, 'bin'), sbinDir: out['TORQUE_SBIN'] ?? join(TORQUE_PREFIX, 'sbin'), momPortBase: momBase, nodesSpec: torqueEnv.TORQUE_NODES };
    // the server's queues as docs/admin-torque.md has the admin make them
    // every simulated host reaches pbs_server from this machine, over loopback: the server names that
    // client host "localhost" (seen live: "from pbsve@localhost") or by this machine's name. So here, unlike
    // a real cluster, pbsve is an operator for every simulated host, not only the vemon node
    await runAdmin(['install', 'server', '--monitor-host', 'localhost', '--monitor-host', server, '--ve-host', 'localhost', '--ve-host', server], configDir, 've admin install server');
    for (const h of allHosts) {
      const momHome = out[`MOM_HOME_${h}`];
      if (momHome === undefined) throw new VeError('sandbox-step-failed', 'environment', `torque.sh printed no MOM_HOME_${h}`);
      hostInfo[h] = { ...hostPaths(dir, h), momHome };
      await runAdmin(['install', 'mom', '--pbs-home', momHome, ...(options.healthCheck === true ? ['--node-check', '--yes'] : [])], hostPaths(dir, h).configDir, `ve admin install mom (${h})`);
    }
    await runStep('torque MOMs', 'torque.sh', ['start-moms'], torqueEnv);
    const path = `${torque.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
    env = { PBS_DEFAULT: server, PATH: path, PBS_VE_CONFIG_DIR: configDir };
    vemonEnv = { PBS_DEFAULT: server, PATH: path, PBS_VE_CONFIG_DIR: vemon.configDir };
  }
  const kvm = await kvmProbe;
  log(kvm.usable ? 'KVM works: --type kvm VEs get hardware acceleration' : `KVM not usable (${kvm.detail}): --type kvm VEs run emulated (QEMU TCG)`);
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join('\n');
  writeFileSync(join(dir, 'env.sh'), `${exports}\nalias ve='${process.execPath} ${join(PROJECT_DIR, 'dist/src/qsub-wrappers/main.js')}'\n`);
  const images = [...('problem' in tinyvm ? ['tiny'] : ['tiny', 'tinyvm']), ...(options.images ?? [])];
  const info: SandboxInfo = {
    dir, batch: batchKind, portBase, configDir, vemonConfigDir: vemon.configDir, vemonEnv, slurmConf, ...(torque === undefined ? {} : { torque }),
    ldapUrl, baseDn, writerDn, writerPassword, nodes, hosts: hostInfo, env, images, ...('problem' in tinyvm ? { imageProblem: tinyvm.problem } : {}),
  };
  writeFileSync(join(dir, 'sandbox.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  return info;
}

// A second cluster on a taken port would answer for the first: the slurmctld we talk to must run our slurm.conf.
async function checkSlurmctldIsOurs(slurmConf: string): Promise<void> {
  const r = await runCommand('scontrol', ['show', 'config'], { env: { SLURM_CONF: slurmConf }, timeoutMs: 20_000 });
  const answered = /^SLURM_CONF\s*=\s*(\S+)/m.exec(r.stdout)?.[1];
  if (answered !== slurmConf) {
    throw new VeError('sandbox-not-ours', 'environment', `sandbox: the slurmctld answering runs ${answered ?? '(no answer)'}, not ${slurmConf}: another cluster holds the port`);
  }
}

// Stops in reverse order and keeps going past failures: a half-up sandbox must still come down.
export async function stopSandbox(dirOption: string, log: (line: string) => void = () => undefined): Promise<string[]> {
  const dir = resolve(dirOption);
  const problems: string[] = [];
  const steps: [string, string, Record<string, string>][] = [
    ...(existsSync(join(dir, 'slurm')) ? [['slurm', 'slurm.sh', { SLURM_DIR: join(dir, 'slurm') }] as [string, string, Record<string, string>]] : []),
    ...(ownsTorque(dir) ? [['torque', 'torque.sh', { SANDBOX_DIR: dir, TORQUE_PREFIX }] as [string, string, Record<string, string>]] : []),
    ['libvirtd', 'libvirt.sh', { LIBVIRT_DIR: join(dir, 'libvirt'), NODES: VE_NODES.join(' ') }],
    ['slapd', 'slapd.sh', { LDAP_DIR: join(dir, 'ldap') }],
    // after slurm: slurmdbd sends what it holds before it goes
    ...(existsSync(join(dir, 'mariadb')) ? [['mariadb', 'mariadb.sh', { DB_DIR: join(dir, 'mariadb') }] as [string, string, Record<string, string>]] : []),
  ];
  for (const h of VE_NODES) {
    log(`stopping ve-host-watch on ${h}`);
    await stopHostWatch(dir, h).catch((err: unknown) => { problems.push(String(err)); });
  }
  for (const [what, script, env] of steps) {
    log(`stopping ${what}`);
    try {
      await runStep(what, script, ['stop'], env, 120_000);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  // after libvirtd: its networks' bridges are gone, so only pbs-ve's VXLAN devices and the namespaces are left
  log('removing the underlay namespaces');
  problems.push(...await stopSandboxUnderlay(dir).catch((err: unknown) => [String(err)]));
  return problems;
}

/** scripts/sandbox/torque.sh on a running TORQUE sandbox (kill-mom NODE, start-mom NODE, status): a host dying and coming back */
export async function runTorqueSandboxScript(info: SandboxInfo, args: readonly string[]): Promise<string> {
  if (info.torque === undefined) throw new VeError('sandbox-not-torque', 'prereq', `sandbox ${info.dir} runs ${info.batch}, not TORQUE`);
  return runStep(`torque.sh ${args.join(' ')}`, 'torque.sh', args, {
    SANDBOX_DIR: info.dir, TORQUE_PREFIX, MOM_PORT_BASE: String(info.torque.momPortBase), TORQUE_NODES: info.torque.nodesSpec,
  }, 60_000);
}

/** where scripts/sandbox/torque.sh keeps the one TORQUE sandbox of this machine */
export const TORQUE_SANDBOX_HOME = process.env['TORQUE_SANDBOX_HOME'] ?? '/var/spool/pbs-ve-sandbox/torque';

// Only the sandbox that owns the machine's TORQUE cluster may stop it.
function ownsTorque(dir: string): boolean {
  try {
    return readFileSync(join(TORQUE_SANDBOX_HOME, 'owner'), 'utf8').trim() === dir;
  } catch {
    return false;
  }
}

export function readSandboxInfo(dirOption: string): SandboxInfo {
  const file = join(resolve(dirOption), 'sandbox.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SandboxInfo;
  } catch (err) {
    throw new VeError('sandbox-not-up', 'environment', `no sandbox at ${dirOption} (run: ve sandbox up)`, { cause: err });
  }
}
