// The health hook as TORQUE and Slurm run it: a real subprocess against a private libvirtd (node1).
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';
import { installMom } from '../../src/admin/install-mom.js';

// Tests run from dist/; the project root is where package.json and scripts/ are.
function findProjectDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'sandbox', 'libvirt.sh'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('scripts/sandbox/libvirt.sh not found');
    dir = parent;
  }
  return dir;
}

const PROJECT = findProjectDir();
const LIBVIRT_SH = join(PROJECT, 'scripts/sandbox/libvirt.sh');
const HOOK = join(PROJECT, 'dist/src/mom-hooks/main.js');
const root = mkdtempSync('/tmp/adm-');
chmodSync(root, 0o755);
const libvirtEnv = { LIBVIRT_DIR: join(root, 'libvirt'), NODES: 'node1' };
const sock = join(root, 'libvirt/node1/run/libvirt-sock');
const configDir = join(root, 'etc');
const imageDir = join(root, 'images');
const stateDir = join(root, 'state');

async function libvirt(action: 'start' | 'stop'): Promise<void> {
  const r = await runCommand('bash', [LIBVIRT_SH, action], { env: libvirtEnv, timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`libvirt.sh ${action}: ${r.stderr}`);
}

function writeConfig(uris: { lxcUri: string; qemuUri: string }): void {
  const config = {
    batch: { kind: 'torque', veQueue: 'batch', vemonQueue: 'vemon' },
    ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=example' },
    virt: { hosts: { node1: uris, default: uris } },
    imageDir, stateDir, nodePath: process.execPath, installDir: PROJECT,
  };
  writeFileSync(join(configDir, 'config.json'), JSON.stringify(config));
}

interface HookRun { exitCode: number; stdout: string; stderr: string; ms: number }

// Exactly one process, bounded from outside too: a hook that ignored its own limit fails the test, not hangs it.
async function runHook(args: readonly string[], env: Record<string, string> = {}): Promise<HookRun> {
  const t0 = performance.now();
  // through sh like TORQUE's popen: a hook that ends itself with SIGKILL shows as 137, as TORQUE would see it
  const r = await runCommand('sh', ['-c', '"$@"; exit $?', 'hook', process.execPath, HOOK, ...args], { env: { PBS_VE_CONFIG_DIR: configDir, ...env }, timeoutMs: 15_000 });
  return { ...r, ms: Math.round(performance.now() - t0) };
}

const FLOORS = ['--min-disk-mib', '1', '--min-mem-mib', '1'];

t.before(async () => {
  mkdirSync(configDir, { recursive: true });
  mkdirSync(imageDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  writeConfig({ lxcUri: `lxc:///system?socket=${sock}`, qemuUri: `qemu:///system?socket=${sock}` });
  await libvirt('start');
  // one defined (not started) pbs-ve domain and one foreign domain: the report must list only ours
  for (const name of ['pbsve-99.vm', 'site-container']) {
    const xml = join(root, `${name}.xml`);
    writeFileSync(xml, `<domain type='lxc'><name>${name}</name><memory unit='MiB'>32</memory><os><type>exe</type><init>/bin/sh</init></os><devices><console type='pty'/></devices></domain>`);
    const r = await runCommand('virsh', ['-c', `lxc:///system?socket=${sock}`, 'define', xml], { timeoutMs: 20_000 });
    if (r.exitCode !== 0) throw new Error(`virsh define ${name}: ${r.stderr}`);
  }
});

t.teardown(async () => {
  await libvirt('stop').catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

void t.test('healthy: OK line, exit 0, the report lists pbs-ve domains with their state', async (t) => {
  const runs: number[] = [];
  let last: HookRun | undefined;
  for (let i = 0; i < 5; i++) {
    last = await runHook(['--host', 'node1', ...FLOORS, '--report']);
    runs.push(last.ms);
  }
  t.equal(last?.exitCode, 0, last?.stderr ?? '');
  t.match(last?.stdout, /^OK node1: libvirtd answers on 2 URIs, image store \S+ present, [0-9]+ MiB disk free, [0-9]+ MiB memory available\nVE pbsve-99\.vm shutoff lxc\nVES 1\n$/);
  t.comment(`healthy run (process start to exit): ${runs.join(', ')} ms`);
  t.ok(Math.max(...runs) < 5000, 'well inside the 5 s limit');
  const json = await runHook(['--host', 'node1', ...FLOORS, '--json']);
  const parsed = JSON.parse(json.stdout) as { host: string; healthy: boolean; problems: string[]; facts: string[]; domains: unknown[] };
  t.match(parsed, { host: 'node1', healthy: true, problems: [] });
  t.equal(parsed.facts.length, 4);
  t.same(parsed.domains, [{ uri: `lxc:///system?socket=${sock}`, name: 'pbsve-99.vm', state: 'shutoff' }]);
});

void t.test('floors: a floor above what the host has is an ERROR line', async (t) => {
  const r = await runHook(['--host', 'node1', '--min-disk-mib', '999999999', '--min-mem-mib', '1']);
  t.equal(r.exitCode, 1);
  t.match(r.stdout, new RegExp(`^ERROR free disk on ${stateDir} [0-9]+ MiB below 999999999 MiB\\n$`));
  const m = await runHook(['--host', 'node1', '--min-disk-mib', '1'], { PBS_VE_MIN_MEM_MIB: '999999999' });
  t.match(m.stdout, /^ERROR available memory [0-9]+ MiB below 999999999 MiB\n$/);
});

void t.test('image store missing: ERROR line naming it, exit 1', async (t) => {
  renameSync(imageDir, `${imageDir}.away`);
  t.teardown(() => { renameSync(`${imageDir}.away`, imageDir); });
  const r = await runHook(['--host', 'node1', ...FLOORS]);
  t.equal(r.exitCode, 1);
  t.equal(r.stdout, `ERROR image store ${imageDir} missing\n`);
});

void t.test('the installed mom_priv wrapper runs it in TORQUE\'s empty environment (no args, host via "default")', async (t) => {
  const pbsHome = join(root, 'torque');
  mkdirSync(join(pbsHome, 'mom_priv'), { recursive: true });
  await installMom({ pbsHome, dryRun: false, nodePath: process.execPath, installDir: PROJECT, configDir });
  const r = await runCommand('env', ['-i', 'PATH=/bin:/usr/bin', 'PBS_VE_MIN_DISK_MIB=1', 'PBS_VE_MIN_MEM_MIB=1', join(pbsHome, 'mom_priv/pbs-ve-health-check')], { timeoutMs: 15_000 });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^OK \S+: libvirtd answers on 2 URIs/);
});

void t.test('a libvirtd that accepts but never answers: the hard limit ends the run with ERROR', async (t) => {
  const silent = join(root, 'silent.sock');
  const held: Socket[] = [];
  const server = createServer((s) => { held.push(s); });
  await new Promise<void>((resolve) => server.listen(silent, resolve));
  t.teardown(() => { for (const s of held) s.destroy(); server.close(); });
  writeConfig({ lxcUri: `lxc:///system?socket=${silent}`, qemuUri: `qemu:///system?socket=${sock}` });
  t.teardown(() => { writeConfig({ lxcUri: `lxc:///system?socket=${sock}`, qemuUri: `qemu:///system?socket=${sock}` }); });
  const own = await runHook(['--host', 'node1', ...FLOORS, '--check-timeout-ms', '800']);
  t.equal(own.exitCode, 137, 'a blocked libvirt thread cannot be joined: the hook ends itself with SIGKILL');
  t.equal(own.stdout, `ERROR libvirtd not answering on lxc:///system?socket=${silent}: no answer within 800 ms\n`, 'per-check limit');
  t.ok(own.ms < 3000, `per-check limit answered after ${own.ms} ms`);
  const hard = await runHook(['--host', 'node1', ...FLOORS, '--check-timeout-ms', '10000', '--time-limit-ms', '1500']);
  t.equal(hard.exitCode, 137);
  t.equal(hard.stdout, 'ERROR health check timed out after 1500 ms\n', 'global limit');
  t.ok(hard.ms < 2500, `global limit answered after ${hard.ms} ms`);
});

void t.test('libvirtd stopped: ERROR line naming each URI, exit 1, quickly', async (t) => {
  await libvirt('stop');
  const r = await runHook(['--host', 'node1', ...FLOORS]);
  t.equal(r.exitCode, 1);
  t.match(r.stdout, new RegExp(`^ERROR libvirtd not answering on lxc:///system\\?socket=${sock}: [^\\n]+; libvirtd not answering on qemu:///system\\?socket=${sock}: [^\\n]+\\n$`));
  t.comment(`libvirtd down: ${r.ms} ms`);
  t.ok(r.ms < 5000);
});
