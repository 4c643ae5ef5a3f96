// One daemon of a sandbox cluster (src/sandbox) killed hard and started again, everything else left
// running: a node's libvirtd (its domains, virtlogd and libvirt_lxc controllers live on) and slapd
// (same data and passwords). For slurmd see sandbox-nodes.ts.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import { isProcessAlive } from '../../src/core/is-process-alive.js';
import { waitFor } from './wait-for.js';
import { PROJECT_DIR } from '../../src/sandbox/sandbox.js';

const NODE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// The sandbox scripts, in the checkout the sandbox itself runs them from.
const findScript = (name: string): string => join(PROJECT_DIR, 'scripts', 'sandbox', name);

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 1 && isProcessAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

// SIGKILL, then wait until /proc says it is gone (or a zombie): no graceful shutdown, like a crash.
async function killHard(pid: number | undefined, what: string): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return pid;
  }
  await waitFor(`${what} (pid ${pid}) to die`, 10_000, () => (isProcessAlive(pid) ? undefined : true), 50);
  return pid;
}

/** SIGKILLs the libvirtd of `node` (the sandbox's <dir>/libvirt/<node>/run/libvirtd.pid); returns its pid. */
export async function killSandboxLibvirtd(sandboxDir: string, node: string): Promise<number | undefined> {
  if (!NODE.test(node)) throw new VeError('unknown-node', 'prereq', `not a node name: ${JSON.stringify(node)}`);
  return killHard(await readPid(join(resolve(sandboxDir), 'libvirt', node, 'run', 'libvirtd.pid')), `libvirtd of ${node}`);
}

/** Starts the libvirtd of `node` again (scripts/sandbox/libvirt.sh start for that node only). */
export async function startSandboxLibvirtd(sandboxDir: string, node: string): Promise<void> {
  if (!NODE.test(node)) throw new VeError('unknown-node', 'prereq', `not a node name: ${JSON.stringify(node)}`);
  const r = await runCommand('bash', [findScript('libvirt.sh'), 'start'], { env: { LIBVIRT_DIR: join(resolve(sandboxDir), 'libvirt'), NODES: node }, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new VeError('libvirtd-start-failed', 'environment', `libvirt.sh start ${node}: ${r.stderr}`);
}

/** SIGKILLs the sandbox's slapd; returns its pid. */
export async function killSandboxSlapd(sandboxDir: string): Promise<number | undefined> {
  return killHard(await readPid(join(resolve(sandboxDir), 'ldap', 'slapd.launcher.pid')), 'slapd');
}

/** Starts the sandbox's slapd again on the same port, with its data and passwords (LDAP_REUSE=1). */
export async function startSandboxSlapd(sandboxDir: string, ldapUrl: string): Promise<void> {
  const port = /:(\d+)\/?$/.exec(ldapUrl)?.[1];
  if (port === undefined) throw new VeError('bad-ldap-url', 'prereq', `no port in ${ldapUrl}`);
  const r = await runCommand('bash', [findScript('slapd.sh'), 'start'], { env: { LDAP_DIR: join(resolve(sandboxDir), 'ldap'), LDAP_PORT: port, LDAP_REUSE: '1' }, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new VeError('slapd-start-failed', 'environment', `slapd.sh start: ${r.stderr}`);
}
