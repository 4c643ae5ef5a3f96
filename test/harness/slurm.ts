// Integration tests get a real private Slurm cluster (scripts/sandbox/slurm.sh) and a guaranteed stop.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import { isProcessAlive } from '../../src/core/is-process-alive.js';

export interface SlurmOptions {
  /** cluster directory; default: a fresh /tmp/slurm-XXXXXX, removed again by stop() */
  readonly dir?: string;
  readonly prolog?: string;
  readonly epilog?: string;
  readonly healthCheckProgram?: string;
  /** more variables for slurm.sh (SLURMD_TIMEOUT, BATCH_MAX_TIME, PROLOG_EPILOG_TIMEOUT ...) */
  readonly env?: Record<string, string>;
}

export interface SlurmCluster {
  readonly dir: string;
  readonly slurmConf: string;
  readonly env: { readonly SLURM_CONF: string };
  readonly nodes: string[];
  /** first of the cluster's five ports */
  readonly portBase: number;
  stop(): Promise<void>;
  /** SIGKILL one slurmd (a node crash as slurmctld sees it) and wait until it is gone */
  killSlurmd(node: string): Promise<void>;
  startSlurmd(node: string): Promise<void>;
}

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/sandbox/slurm.sh');
const NODES = ['node1', 'node2', 'mon1'];
const START_ATTEMPTS = 3;

// A dead daemon may linger as a zombie until PID 1 reaps it: only /proc/PID/stat tells the truth.
const isAlive = (pid: number): Promise<boolean> => Promise.resolve(isProcessAlive(pid));

// Parallel clusters of other test files must not collide: a random 10-port slot in 17000-19990.
function pickPortBase(): number {
  return 17_000 + Math.floor(Math.random() * 300) * 10;
}

// Reads a daemon pid file of this cluster, undefined when there is none.
async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// Starts munged, slurmctld and three slurmd; retries on another port slot when a port was taken.
export async function startSlurm(options: SlurmOptions = {}): Promise<SlurmCluster> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp('/tmp/slurm-'));
  const baseEnv: Record<string, string> = {
    SLURM_DIR: dir,
    ...(options.prolog === undefined ? {} : { PROLOG: options.prolog }),
    ...(options.epilog === undefined ? {} : { EPILOG: options.epilog }),
    ...(options.healthCheckProgram === undefined ? {} : { HEALTH_CHECK_PROGRAM: options.healthCheckProgram }),
    ...options.env,
  };
  const slurmConf = path.join(dir, 'etc', 'slurm.conf');
  let portBase = 0;
  let lastError = '';
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt += 1) {
    portBase = pickPortBase();
    const result = await runCommand(SCRIPT, ['start'], { env: { ...baseEnv, SLURM_PORT_BASE: String(portBase) }, timeoutMs: 120_000 });
    if (result.exitCode === 0 && result.stdout.includes(`SLURM_CONF=${slurmConf}`)) {
      lastError = '';
      break;
    }
    lastError = result.stderr;
    await runCommand(SCRIPT, ['stop'], { env: baseEnv, timeoutMs: 60_000 });
  }
  if (lastError !== '') {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw new VeError('slurm-start-failed', 'environment', `slurm.sh start failed: ${lastError.slice(-3000)}`);
  }

  let stopped = false;
  return {
    dir,
    slurmConf,
    env: { SLURM_CONF: slurmConf },
    nodes: [...NODES],
    portBase,
    async stop() {
      if (stopped) return;
      stopped = true;
      const result = await runCommand(SCRIPT, ['stop'], { env: baseEnv, timeoutMs: 120_000 });
      if (result.exitCode !== 0) throw new VeError('slurm-stop-failed', 'environment', `slurm.sh stop: ${result.stderr}`);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    async killSlurmd(node: string) {
      if (!NODES.includes(node)) throw new VeError('unknown-node', 'prereq', `no slurmd ${node} in this cluster`);
      const pid = await readPid(path.join(dir, 'run', `slurmd-${node}.pid`));
      if (pid === undefined || !(await isAlive(pid))) return;
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && (await isAlive(pid)); i += 1) await new Promise((r) => setTimeout(r, 50));
    },
    async startSlurmd(node: string) {
      if (!NODES.includes(node)) throw new VeError('unknown-node', 'prereq', `no slurmd ${node} in this cluster`);
      const result = await runCommand('slurmd', ['-f', slurmConf, '-N', node], { env: { SLURM_CONF: slurmConf }, timeoutMs: 30_000 });
      if (result.exitCode !== 0) throw new VeError('slurmd-start-failed', 'environment', `slurmd -N ${node}: ${result.stderr}`);
    },
  };
}
