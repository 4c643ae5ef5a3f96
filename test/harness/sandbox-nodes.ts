// One compute node of a sandbox cluster (src/sandbox) made to fail and come back: its slurmd, and
// optionally what a dead host takes with it (its slurmstepd and job processes).
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import { isProcessAlive } from '../../src/core/is-process-alive.js';

const NODE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// A dead daemon may linger as a zombie until PID 1 reaps it: only /proc/PID/stat tells the truth.
const isAlive = (pid: number): Promise<boolean> => Promise.resolve(isProcessAlive(pid));

async function readParent(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

async function readEnviron(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  } catch {
    return [];
  }
}

async function readComm(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return '';
  }
}

function checkNode(node: string): void {
  if (!NODE.test(node)) throw new VeError('unknown-node', 'prereq', `not a node name: ${JSON.stringify(node)}`);
}

async function killAndWait(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 100; i++) {
    const alive = await Promise.all(pids.map(isAlive));
    if (!alive.includes(true)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Job processes of this node (our SLURM_CONF and SLURMD_NODENAME in their environment) and the
// slurmstepd above them: what would die with the host.
async function findNodeJobPids(slurmConf: string, node: string): Promise<number[]> {
  const found = new Set<number>();
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const env = await readEnviron(pid);
    if (!env.includes(`SLURM_CONF=${slurmConf}`) || !env.includes(`SLURMD_NODENAME=${node}`)) continue;
    found.add(pid);
    for (let p = await readParent(pid); p !== undefined && p > 1; p = await readParent(p)) {
      if ((await readComm(p)) !== 'slurmstepd') break;
      found.add(p);
    }
  }
  return [...found].filter((p) => p !== process.pid);
}

/**
 * SIGKILLs the slurmd of `node` in the sandbox at `sandboxDir` (pid file <sandbox>/slurm/run/slurmd-<node>.pid).
 * With withJobs, also the node's slurmstepd and job processes: a dead host's jobs cannot report their end.
 * Returns the pids killed.
 */
export async function killSandboxSlurmd(sandboxDir: string, node: string, options: { readonly withJobs?: boolean } = {}): Promise<number[]> {
  checkNode(node);
  const dir = resolve(sandboxDir);
  const killed: number[] = [];
  try {
    const pid = Number((await readFile(join(dir, 'slurm/run', `slurmd-${node}.pid`), 'utf8')).trim());
    if (Number.isSafeInteger(pid) && pid > 1 && (await isAlive(pid))) killed.push(pid);
  } catch {
    // no pid file: slurmd not running
  }
  await killAndWait(killed);
  if (options.withJobs === true) {
    const jobs = await findNodeJobPids(join(dir, 'slurm/etc/slurm.conf'), node);
    await killAndWait(jobs);
    killed.push(...jobs);
  }
  return killed;
}

/** Starts the slurmd of `node` again, as scripts/sandbox/slurm.sh does. */
export async function startSandboxSlurmd(sandboxDir: string, node: string): Promise<void> {
  checkNode(node);
  const slurmConf = join(resolve(sandboxDir), 'slurm/etc/slurm.conf');
  const result = await runCommand('slurmd', ['-f', slurmConf, '-N', node], { env: { SLURM_CONF: slurmConf }, timeoutMs: 30_000 });
  if (result.exitCode !== 0) throw new VeError('slurmd-start-failed', 'environment', `slurmd -N ${node}: ${result.stderr}`);
}
