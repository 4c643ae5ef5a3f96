// The lifecycle and storm benchmarks run on the same sandbox cluster the integration tests use.
import { mkdtempSync } from 'node:fs';
import { runCommand } from '../src/core/run-command.js';
import { startSandbox, stopSandbox, type SandboxBatch, type SandboxInfo } from '../src/sandbox/sandbox.js';

export interface BenchSandboxOptions {
  readonly nodeCpus?: number;
  readonly nodeMemoryMiB?: number;
  /** local users the benchmark acts as (created once, kept) */
  readonly users: readonly string[];
  readonly log: (line: string) => void;
}

// One TORQUE cluster per machine: a bench waits its turn as the test harness does.
const TORQUE_WAIT_MS = 30 * 60_000;

// Up, run, always down: a benchmark that fails leaves no daemon behind.
export async function withBenchSandbox<T>(batch: SandboxBatch, options: BenchSandboxOptions, body: (info: SandboxInfo) => Promise<T>): Promise<T> {
  for (const user of options.users) {
    if ((await runCommand('id', ['-u', user], {})).exitCode !== 0) await runCommand('useradd', ['-m', '-s', '/bin/bash', user], {});
  }
  const dir = mkdtempSync(`/tmp/pbsve-bench-${batch}-`);
  const started = Date.now();
  try {
    let info: SandboxInfo | undefined;
    while (info === undefined) {
      try {
        info = await startSandbox({
          dir, batch, log: options.log,
          ...(options.nodeCpus === undefined ? {} : { nodeCpus: options.nodeCpus }),
          ...(options.nodeMemoryMiB === undefined ? {} : { nodeMemoryMiB: options.nodeMemoryMiB }),
          // measured: 40 Prologs started at once on one node at load 30-60 ran past Slurm's 60 s and drained it
          prologEpilogTimeout: 900,
          // measured: at a 256 storm, 128 trivial jobs' Prologs on one node took 5-9 s each and slurmctld's launch
          // RPCs timed out at 10 s ("Could not confirm batch launch"), draining the node before any VE was made
          messageTimeout: 100,
        });
      } catch (err) {
        if (!/another TORQUE sandbox runs on this machine/.test(String(err)) || Date.now() - started > TORQUE_WAIT_MS) throw err;
        options.log('another TORQUE sandbox runs on this machine: waiting for it');
        await stopSandbox(dir);
        await new Promise((r) => setTimeout(r, 10_000));
      }
    }
    return await body(info);
  } finally {
    const problems = await stopSandbox(dir);
    for (const p of problems) options.log(p);
    await runCommand('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 });
  }
}
