// Test harness: one private libvirtd per simulated node (scripts/sandbox/libvirt.sh) in a mkdtemp dir,
// and the busybox LXC image (scripts/sandbox/make-lxc-image.sh).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';

export interface LibvirtNodeUris {
  /** read-write, root only */
  readonly lxcUri: string;
  readonly qemuUri: string;
  /** read-only socket (mode 0777): what a job body running as the job's user watches through */
  readonly roLxcUri: string;
  readonly roQemuUri: string;
}

export interface LibvirtInstance {
  readonly dir: string;
  readonly nodes: Readonly<Record<string, LibvirtNodeUris>>;
  /** destroys remaining domains, stops every daemon; removes the dir if the harness made it. Safe twice. */
  stop(): Promise<void>;
}

export interface StartLibvirtOptions {
  /** instance directory; default a fresh mkdtemp under /tmp (virt-), removed by stop() */
  readonly dir?: string;
  /** default ['node1', 'node2'] */
  readonly nodes?: readonly string[];
}

export interface LxcImage {
  readonly rootfsDir: string;
  /** init program and arguments for DomainSpec.lxc.init */
  readonly init: readonly string[];
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 90_000;
const live = new Map<string, { nodes: string; removeDir: boolean }>();

// The scripts live in the source tree; tests run from dist/, so walk up to the repository root.
function findScript(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'scripts', 'sandbox', name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`scripts/sandbox/${name} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

// Last resort when a test process ends without teardown: no libvirtd, container or VM outlives it.
// 'exit' handlers must be synchronous, hence spawnSync here and nowhere else.
process.once('exit', () => {
  for (const [dir, { nodes, removeDir }] of live) {
    spawnSync(findScript('libvirt.sh'), ['stop'], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LIBVIRT_DIR: dir, NODES: nodes },
      stdio: 'ignore',
      timeout: STOP_TIMEOUT_MS,
    });
    if (removeDir) rmSync(dir, { recursive: true, force: true });
  }
});

// libvirt.sh start prints "<node> lxc=URI qemu=URI ro-lxc=URI ro-qemu=URI" per node.
function parseNodeLines(stdout: string, nodes: readonly string[]): Record<string, LibvirtNodeUris> {
  const result: Record<string, LibvirtNodeUris> = {};
  for (const line of stdout.split('\n')) {
    const [node, ...pairs] = line.trim().split(/\s+/);
    if (node === undefined || !nodes.includes(node)) continue;
    const kv = new Map(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
    const get = (key: string): string => {
      const value = kv.get(key);
      if (value === undefined) throw new Error(`libvirt.sh start printed no ${key} for ${node}: ${line}`);
      return value;
    };
    result[node] = { lxcUri: get('lxc'), qemuUri: get('qemu'), roLxcUri: get('ro-lxc'), roQemuUri: get('ro-qemu') };
  }
  for (const node of nodes) if (!(node in result)) throw new Error(`libvirt.sh start printed no URIs for ${node}`);
  return result;
}

// One libvirtd per node, each with its own state, so a domain's host is observable in tests.
export async function startLibvirt(options: StartLibvirtOptions = {}): Promise<LibvirtInstance> {
  const removeDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync('/tmp/virt-');
  const nodes = options.nodes ?? ['node1', 'node2'];
  const env = { LIBVIRT_DIR: dir, NODES: nodes.join(' ') };
  const script = findScript('libvirt.sh');
  live.set(dir, { nodes: env.NODES, removeDir });
  const started = await runCommand(script, ['start'], { env, timeoutMs: START_TIMEOUT_MS });
  if (started.exitCode !== 0) {
    await runCommand(script, ['stop'], { env, timeoutMs: STOP_TIMEOUT_MS }).catch(() => undefined);
    live.delete(dir);
    if (removeDir) rmSync(dir, { recursive: true, force: true });
    throw new Error(`libvirt.sh start failed (exit ${started.exitCode}): ${started.stderr.trim()}`);
  }
  const uris = parseNodeLines(started.stdout, nodes);
  let stopped = false;
  return {
    dir,
    nodes: uris,
    async stop() {
      if (stopped) return;
      stopped = true;
      const result = await runCommand(script, ['stop'], { env, timeoutMs: STOP_TIMEOUT_MS });
      live.delete(dir);
      if (result.exitCode !== 0) throw new Error(`libvirt.sh stop failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
      if (removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The catalog image "tiny": a busybox rootfs whose init prints to the console and exits on SIGTERM.
export async function makeLxcImage(dir: string): Promise<LxcImage> {
  const result = await runCommand(findScript('make-lxc-image.sh'), [dir], { timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`make-lxc-image.sh failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  return { rootfsDir: dir, init: ['/bin/sh', '/init.sh'] };
}
