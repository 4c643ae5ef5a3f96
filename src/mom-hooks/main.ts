#!/usr/bin/env node
// ve-health-check: TORQUE $node_check_script and Slurm HealthCheckProgram (through the installed wrapper).
import { writeSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { VeError } from '../core/ve-error.js';
import { decideExitCode } from '../core/decide-exit-code.js';
import { checkHostHealth, formatHostHealth } from './check-host-health.js';
import { isDirectory, readAvailableMemoryMiB, readFreeDiskMiB } from './read-host-resources.js';
import { applyNodeHealth } from './apply-node-health.js';

const started = Date.now();
const DEFAULT_TIME_LIMIT_MS = 5000;

// TORQUE gives the script no timeout and Slurm kills it only after 60 s: whatever hangs, we answer.
// A check that never answered may hold a libuv thread (libvirt connect, statfs on a hung mount) that
// process.exit would wait for (measured: it hangs for good), so such runs end with SIGKILL to ourselves
// after the output is out: the shell then sees 137, TORQUE and Slurm only read the output.
function finish(output: string, code: number, abandonThreads = false): never {
  try {
    writeSync(1, output);
  } catch {
    // nobody reads our stdout any more; the exit code still tells
  }
  if (abandonThreads) process.kill(process.pid, 'SIGKILL');
  process.exit(code);
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new VeError('invalid-field', 'prereq', `${name}: must be a positive whole number (got ${JSON.stringify(value)})`);
  return n;
}

const envLimit = process.env['PBS_VE_HEALTH_TIME_LIMIT_MS'];
let hardLimitMs = envLimit === undefined ? DEFAULT_TIME_LIMIT_MS : Number(envLimit) > 0 ? Number(envLimit) : DEFAULT_TIME_LIMIT_MS;
let hardTimer = setTimeout(() => { finish(`ERROR health check timed out after ${hardLimitMs} ms\n`, 1, true); }, hardLimitMs);

interface Flags {
  minDiskMib: string;
  minMemMib: string;
  checkTimeoutMs: string;
  timeLimitMs: string;
  report?: boolean;
  json?: boolean;
  host?: string;
  drain: boolean;
}

const program = new Command('ve-health-check')
  .description('pbs-ve host health: libvirtd, image store, free disk and memory; prints ERROR <reason> when unhealthy')
  .option('--min-disk-mib <n>', 'free disk floor under config.stateDir (env PBS_VE_MIN_DISK_MIB)', process.env['PBS_VE_MIN_DISK_MIB'] ?? '1024')
  .option('--min-mem-mib <n>', 'MemAvailable floor (env PBS_VE_MIN_MEM_MIB)', process.env['PBS_VE_MIN_MEM_MIB'] ?? '256')
  .option('--check-timeout-ms <n>', 'limit of each single check', '2000')
  .option('--time-limit-ms <n>', 'hard limit of the whole run (env PBS_VE_HEALTH_TIME_LIMIT_MS)', String(hardLimitMs))
  .option('--host <name>', 'this host as the batch system names it (default: SLURMD_NODENAME or the short hostname)')
  .option('--report', 'also list pbs-ve domains (pbsve-*) with their libvirt state')
  .option('--json', 'print the result as one JSON object instead')
  .option('--no-drain', 'Slurm: do not drain/resume the node, only print and exit')
  .exitOverride()
  .configureOutput({ writeErr: (s) => { process.stderr.write(s); } });

try {
  program.parse(process.argv);
} catch (err) {
  if (err instanceof CommanderError && err.exitCode === 0) finish('', 0);
  finish(`ERROR health check: bad arguments: ${(err as Error).message.replace(/\s+/g, ' ')}\n`, 1);
}

const flags = program.opts<Flags>();
try {
  const limit = positive('--time-limit-ms', flags.timeLimitMs);
  if (limit !== hardLimitMs) {
    clearTimeout(hardTimer);
    hardLimitMs = limit;
    hardTimer = setTimeout(() => { finish(`ERROR health check timed out after ${hardLimitMs} ms\n`, 1, true); }, Math.max(0, limit - (Date.now() - started)));
  }
  // loaded after the timer runs: loading the libvirt binding and config counts against the limit too
  const { findConfigDir, findHostName, findHostVirt, loadConfig } = await import('../config/load-config.js');
  const { openBatch, openReadOnlyVirtAt } = await import('../config/open-adapters.js');
  const config = loadConfig(findConfigDir(process.env));
  const host = flags.host ?? findHostName(process.env);
  // a host without virt.hosts entry (and no "default") runs no VEs: only disk and memory are checked
  const virt = config.virt.hosts[host] === undefined && config.virt.hosts['default'] === undefined ? undefined : findHostVirt(config, host);
  const health = await checkHostHealth({
    uris: virt === undefined ? [] : [virt.lxcUri, virt.qemuUri],
    imageDir: virt === undefined ? undefined : config.imageDir,
    stateDir: config.stateDir,
    floors: { minDiskMiB: positive('--min-disk-mib', flags.minDiskMib), minMemoryMiB: positive('--min-mem-mib', flags.minMemMib) },
    checkTimeoutMs: positive('--check-timeout-ms', flags.checkTimeoutMs),
  }, { openVirt: openReadOnlyVirtAt, isDirectory, freeDiskMiB: readFreeDiskMiB, availableMemoryMiB: () => readAvailableMemoryMiB() });
  if (config.batch.kind === 'slurm' && flags.drain) {
    // what is left of the hard limit is each batch command's limit
    const batch = openBatch({ ...config, batch: { ...config.batch, timeoutMs: Math.max(200, hardLimitMs - (Date.now() - started) - 300) } });
    try {
      if ((await applyNodeHealth(batch, host, health.healthy ? [] : health.problems)) === 'resumed') process.stderr.write(`pbs-ve health: node ${host} resumed\n`);
    } catch (err) {
      process.stderr.write(`pbs-ve health: ${(err as Error).message}\n`);
    }
  }
  const output = flags.json === true
    ? `${JSON.stringify({ host, healthy: health.healthy, problems: health.problems, facts: health.facts, domains: health.domains })}\n`
    : formatHostHealth(health, { host, report: flags.report === true });
  finish(output, health.healthy ? 0 : 1, health.unanswered > 0);
} catch (err) {
  const reason = err instanceof VeError ? `${err.code}: ${err.message}` : String(err);
  finish(`ERROR pbs-ve health check failed: ${reason.replace(/[\r\n]+/g, ' ')}\n`, decideExitCode(err, 'health-check'));
}
