import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VeError } from '../core/ve-error.js';
import { runCommand } from '../core/run-command.js';
import { ensureHostKey, hostKeyPath } from '../events/host-key.js';
import { probeKvmCached } from '../host/resolve-qemu-acceleration.js';

/** Where the project lives (dist/src/sandbox/sandbox.js -> the checkout). */
export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPTS = join(PROJECT_DIR, 'scripts/sandbox');

export interface SandboxInfo {
  readonly dir: string;
  readonly configDir: string;
  /** the vemon node's configuration: LDAP write credentials and all host keys (ve-monitor, ve image add) */
  readonly vemonConfigDir: string;
  readonly vemonEnv: Readonly<Record<string, string>>;
  readonly slurmConf: string;
  readonly ldapUrl: string;
  readonly baseDn: string;
  readonly writerDn: string;
  readonly writerPassword: string;
  readonly nodes: Readonly<Record<string, { readonly lxcUri: string; readonly qemuUri: string; readonly roLxcUri: string; readonly roQemuUri: string }>>;
  /** environment a user of the sandbox needs: SLURM_CONF, PBS_VE_CONFIG_DIR, PATH */
  readonly env: Readonly<Record<string, string>>;
  /** catalog images the sandbox registered: tiny (lxc), and tinyvm (kvm) when its kernel could be downloaded */
  readonly images: readonly string[];
  /** why tinyvm is missing */
  readonly imageProblem?: string;
}

export const VE_NODES = ['node1', 'node2'] as const;

function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
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

// Hooks run with a near-empty environment: the wrappers carry absolute paths and the config dir.
function writeHookWrapper(file: string, entry: string, configDir: string): void {
  writeFileSync(file, `#!/bin/sh\nPBS_VE_CONFIG_DIR=${configDir} exec ${process.execPath} ${join(PROJECT_DIR, 'dist/src', entry)} "$@"\n`, { mode: 0o755 });
  chmodSync(file, 0o755);
}

/** the sandbox's QEMU guest build is cached here across sandboxes (PBS_VE_IMAGE_CACHE overrides) */
export const TINYVM_CACHE_DIR = process.env['PBS_VE_IMAGE_CACHE'] ?? '/var/cache/pbs-ve/tinyvm';

// tiny (LXC) is always there; tinyvm (QEMU, direct kernel boot) only when its kernel could be had.
function writeCatalog(dir: string, tinyvm: { readonly cmdline: string } | undefined): void {
  writeFileSync(join(dir, 'tiny.json'), `${JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny.rootfs', init: ['/bin/sh', '/init.sh'], os: 'busybox' }, null, 2)}\n`);
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
    out = await runStep('image tinyvm', 'make-qemu-image.sh', [TINYVM_CACHE_DIR], {}, 600_000);
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
  readonly portBase?: number;
  readonly log?: (line: string) => void;
  /** Slurm's SlurmdTimeout in seconds: how soon a node whose slurmd died is declared down (slurm.sh default 10) */
  readonly slurmdTimeout?: number;
  /** start of this sandbox's bridge and NIC names (1-6 of [a-z0-9]); default: derived from dir */
  readonly networkPrefix?: string;
}

// Every sandbox's bridges live in the one network namespace of this machine: names must differ per sandbox.
function deriveNetworkPrefix(dir: string): string {
  return `s${createHash('sha256').update(dir).digest('hex').slice(0, 4)}`;
}

/** Brings up the whole local cluster the tests use: slapd, two libvirtd hosts, a 3-node Slurm. */
export async function startSandbox(options: SandboxOptions): Promise<SandboxInfo> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  const portBase = options.portBase ?? 17100;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  // two configurations, as on a real cluster: VE hosts and submit hosts (no LDAP write credentials),
  // and the vemon node's (the credentials and every host's event key)
  const configDir = join(dir, 'etc/pbs-ve');
  const vemonConfigDir = join(dir, 'etc/pbs-ve-vemon');
  const stateDir = join(dir, 'state');
  const imageDir = join(dir, 'images');
  for (const d of [configDir, vemonConfigDir, join(stateDir, 'log'), join(stateDir, 'jobs'), imageDir, join(dir, 'bin'), join(dir, 'work')]) mkdirSync(d, { recursive: true, mode: 0o755 });
  chmodSync(join(stateDir, 'log'), 0o1777);
  // users' working directory: job output files land here, not in a /tmp shared with other clusters
  chmodSync(join(dir, 'work'), 0o1777);

  log('starting slapd');
  const ldap = parseKeyValues(await runStep('slapd', 'slapd.sh', ['start'], { LDAP_DIR: join(dir, 'ldap'), LDAP_PORT: String(portBase + 50) }));
  const ldapUrl = ldap['LDAP_URL'];
  const baseDn = ldap['BASE_DN'];
  const writerDn = ldap['WRITER_DN'];
  const writerPassword = ldap['WRITER_PASSWORD'];
  if (ldapUrl === undefined || baseDn === undefined || writerDn === undefined || writerPassword === undefined) {
    throw new VeError('sandbox-step-failed', 'environment', 'sandbox: slapd.sh did not print LDAP_URL/BASE_DN/WRITER_DN/WRITER_PASSWORD');
  }
  log('starting libvirtd for node1 and node2');
  await runStep('libvirtd', 'libvirt.sh', ['start'], { LIBVIRT_DIR: join(dir, 'libvirt'), NODES: VE_NODES.join(' ') });
  if (!existsSync(join(imageDir, 'tiny.rootfs', 'init.sh'))) {
    log('building the tiny busybox LXC image');
    await runStep('image tiny', 'make-lxc-image.sh', [join(imageDir, 'tiny.rootfs')], {});
  }
  log('building (or taking from the cache) the tiny QEMU image');
  const tinyvm = await prepareTinyVm(imageDir, log);
  if ('problem' in tinyvm) log(`no QEMU image: ${tinyvm.problem}; the sandbox has the LXC image "tiny" only`);
  writeCatalog(imageDir, 'problem' in tinyvm ? undefined : tinyvm);
  const nodes = Object.fromEntries(VE_NODES.map((n) => [n, socketUris(dir, n)]));
  const slurmConf = join(dir, 'slurm/etc/slurm.conf');
  const config = {
    batch: { kind: 'slurm', slurmConf, veQueue: 'batch', vemonQueue: 'vemon', maxLeaseSeconds: 86400, timeoutMs: 30000 },
    ldap: { url: ldapUrl, baseDn, timeoutMs: 10000 },
    ldapWriteCredentialsFile: join(configDir, 'ldap-write.json'),
    monitorConfigDir: vemonConfigDir,
    virt: { hosts: nodes, startTimeoutMs: 60000, kvmAcceleration: 'auto' },
    imageDir,
    stateDir,
    nodePath: process.execPath,
    installDir: PROJECT_DIR,
    minMemoryMiB: 16,
    // both simulated hosts share this machine's network namespace; "lab" is a declared (shared) network
    network: {
      maxNics: 4,
      hosts: { default: { prefix: options.networkPrefix ?? deriveNetworkPrefix(dir) } },
      networks: { lab: {} },
    },
  };
  writeFileSync(join(configDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });
  rmSync(join(configDir, 'ldap-write.json'), { force: true });
  const vemonConfig = { ...config, ldapWriteCredentialsFile: join(vemonConfigDir, 'ldap-write.json') };
  writeFileSync(join(vemonConfigDir, 'config.json'), `${JSON.stringify(vemonConfig, null, 2)}\n`, { mode: 0o644 });
  writeFileSync(join(vemonConfigDir, 'ldap-write.json'), `${JSON.stringify({ bindDn: writerDn, password: writerPassword })}\n`, { mode: 0o600 });
  chmodSync(join(vemonConfigDir, 'ldap-write.json'), 0o600);
  // event authentication (docs/design.md): one key per VE host, and the vemon node holds them all
  mkdirSync(join(vemonConfigDir, 'host-keys'), { recursive: true, mode: 0o700 });
  for (const node of VE_NODES) {
    ensureHostKey(configDir, node);
    copyFileSync(hostKeyPath(configDir, node), hostKeyPath(vemonConfigDir, node));
    chmodSync(hostKeyPath(vemonConfigDir, node), 0o600);
  }
  writeHookWrapper(join(dir, 'bin/prolog'), 'prologue/main.js', configDir);
  writeHookWrapper(join(dir, 'bin/epilog'), 'epilogue/main.js', configDir);
  // the install-time KVM check (cached per boot) runs while Slurm starts, not in the first VE's prologue
  const kvmProbe = probeKvmCached(stateDir).catch((err: unknown) => ({ usable: false, detail: String(err) }));
  log('starting the Slurm cluster (munged, slurmctld, slurmd node1 node2 mon1)');
  await runStep('slurm', 'slurm.sh', ['start'], {
    SLURM_DIR: join(dir, 'slurm'), SLURM_PORT_BASE: String(portBase), PROLOG: join(dir, 'bin/prolog'), EPILOG: join(dir, 'bin/epilog'),
    ...(options.slurmdTimeout === undefined ? {} : { SLURMD_TIMEOUT: String(options.slurmdTimeout) }),
  });
  const kvm = await kvmProbe;
  log(kvm.usable ? 'KVM works: --type kvm VEs get hardware acceleration' : `KVM not usable (${kvm.detail}): --type kvm VEs run emulated (QEMU TCG)`);
  const env = { SLURM_CONF: slurmConf, PBS_VE_CONFIG_DIR: configDir };
  const vemonEnv = { SLURM_CONF: slurmConf, PBS_VE_CONFIG_DIR: vemonConfigDir };
  writeFileSync(join(dir, 'env.sh'), `export SLURM_CONF=${slurmConf}\nexport PBS_VE_CONFIG_DIR=${configDir}\nalias ve='${process.execPath} ${join(PROJECT_DIR, 'dist/src/qsub-wrappers/main.js')}'\n`);
  const images = 'problem' in tinyvm ? ['tiny'] : ['tiny', 'tinyvm'];
  const info: SandboxInfo = { dir, configDir, vemonConfigDir, vemonEnv, slurmConf, ldapUrl, baseDn, writerDn, writerPassword, nodes, env, images, ...('problem' in tinyvm ? { imageProblem: tinyvm.problem } : {}) };
  writeFileSync(join(dir, 'sandbox.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  return info;
}

// Stops in reverse order and keeps going past failures: a half-up sandbox must still come down.
export async function stopSandbox(dirOption: string, log: (line: string) => void = () => undefined): Promise<string[]> {
  const dir = resolve(dirOption);
  const problems: string[] = [];
  const steps: [string, string, Record<string, string>][] = [
    ['slurm', 'slurm.sh', { SLURM_DIR: join(dir, 'slurm') }],
    ['libvirtd', 'libvirt.sh', { LIBVIRT_DIR: join(dir, 'libvirt'), NODES: VE_NODES.join(' ') }],
    ['slapd', 'slapd.sh', { LDAP_DIR: join(dir, 'ldap') }],
  ];
  for (const [what, script, env] of steps) {
    log(`stopping ${what}`);
    try {
      await runStep(what, script, ['stop'], env, 120_000);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

export function readSandboxInfo(dirOption: string): SandboxInfo {
  const file = join(resolve(dirOption), 'sandbox.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SandboxInfo;
  } catch (err) {
    throw new VeError('sandbox-not-up', 'environment', `no sandbox at ${dirOption} (run: ve sandbox up)`, { cause: err });
  }
}
