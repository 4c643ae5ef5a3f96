// Test harness: a private slapd (scripts/sandbox/slapd.sh) on a free loopback port in a mkdtemp dir.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';
import { isProcessAlive } from '../../src/core/is-process-alive.js';

export interface SlapdInstance {
  readonly url: string;
  readonly baseDn: string;
  readonly writerDn: string;
  readonly writerPassword: string;
  readonly rootDn: string;
  readonly rootPassword: string;
  readonly dir: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, wait, wipe dir; safe to call twice and after a kill. It acts on the dir: after a
   *  restart in the same dir (startSlapd({dir, port})) it stops the new slapd too. */
  stop(): Promise<void>;
}

export interface StartSlapdOptions {
  /** instance directory; default a fresh mkdtemp under /tmp (ldap-*) */
  readonly dir?: string;
  readonly port?: number;
  /** schema LDIF to load instead of the project's (e.g. an older release's, to test upgrades) */
  readonly schema?: string;
}

const PORT_MIN = 38900;
const PORT_MAX = 38999;
const live = new Map<number, string>();

// The script lives in the source tree; tests run from dist/, so walk up to the repository root.
function findScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'scripts', 'sandbox', 'slapd.sh');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('scripts/sandbox/slapd.sh not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

// Probing with a listener is racy but cheap; startSlapd retries another port if slapd cannot bind.
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => { resolve(false); });
    server.listen(port, '127.0.0.1', () => server.close(() => { resolve(true); }));
  });
}

// A random start spreads parallel test files over the range.
async function findFreePort(): Promise<number> {
  const span = PORT_MAX - PORT_MIN + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = PORT_MIN + ((start + i) % span);
    if (await isPortFree(port)) return port;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

export { isProcessAlive };

// Tests that simulate a crashed directory kill slapd without any shutdown (default SIGKILL).
export async function stopSlapdByPid(pid: number, signal: NodeJS.Signals = 'SIGKILL', waitMs = 10_000): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + waitMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (isProcessAlive(pid)) throw new Error(`slapd ${pid} still alive ${waitMs} ms after ${signal}`);
}

// slapd.sh prints KEY=VALUE lines on stdout and chatter on stderr; only the former is data.
function parseKeyValues(stdout: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (/^[A-Z_]+=/.test(line)) values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return values;
}

// Last resort when a test process dies without teardown: no slapd outlives it.
process.once('exit', () => {
  for (const [pid, dir] of live) {
    try {
      // only if the pid still is the slapd of that dir (pids get reused)
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
    } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  }
});

// The sandbox script is the single recipe for slapd, shared by tests, benches and developers.
async function runScript(action: 'start' | 'stop', env: Record<string, string>): Promise<string> {
  const result = await runCommand(findScript(), [action], { env, timeoutMs: 30_000 });
  if (result.exitCode !== 0) {
    throw new Error(`slapd.sh ${action} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

// Starts slapd with the pbs-ve schema, base entries and the ve-monitor writer; reuses a kept dir.
export async function startSlapd(options: StartSlapdOptions = {}): Promise<SlapdInstance> {
  const dir = options.dir ?? mkdtempSync('/tmp/ldap-');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await findFreePort());
    let stdout: string;
    try {
      stdout = await runScript('start', { LDAP_DIR: dir, LDAP_PORT: String(port), LDAP_REUSE: '1', ...(options.schema === undefined ? {} : { PBSVE_SCHEMA: options.schema }) });
    } catch (err) {
      lastError = err;
      if (options.port !== undefined) break;
      continue;
    }
    const kv = parseKeyValues(stdout);
    const get = (key: string): string => {
      const value = kv.get(key);
      if (value === undefined) throw new Error(`slapd.sh start printed no ${key}`);
      return value;
    };
    const pid = Number(get('SLAPD_PID'));
    live.set(pid, dir);
    let stopped = false;
    return {
      url: get('LDAP_URL'),
      baseDn: get('BASE_DN'),
      writerDn: get('WRITER_DN'),
      writerPassword: get('WRITER_PASSWORD'),
      rootDn: get('ROOT_DN'),
      rootPassword: get('ROOT_PASSWORD'),
      dir,
      port,
      pid,
      async stop() {
        if (stopped) return;
        stopped = true;
        await runScript('stop', { LDAP_DIR: dir });
        live.delete(pid);
      },
    };
  }
  if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
