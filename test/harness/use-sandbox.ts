// Test harness: one sandbox cluster per integration file, started before its tests and always taken down.
import type { Test } from 'tap';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { startSandbox, stopSandbox, type SandboxBatch, type SandboxInfo, type SandboxOptions } from '../../src/sandbox/sandbox.js';

/** The batch system of this run: test/run-tests.ts runs the files that say "backends: slurm torque" once per backend. */
export const TEST_BATCH: SandboxBatch = process.env['PBS_VE_TEST_BATCH'] === 'torque' ? 'torque' : 'slurm';

export interface UseSandboxOptions extends Omit<SandboxOptions, 'dir' | 'portBase' | 'log'> {
  /** mkdtemp prefix of the sandbox dir, e.g. /tmp/pbsve-qemu- */
  readonly prefix: string;
  /** the sandbox's own log lines as tap comments */
  readonly verbose?: boolean;
  /** extra local users the tests act as (created once, kept) */
  readonly users?: readonly string[];
  /** after the sandbox is up: clients, config changes, background loops */
  readonly ready?: (info: SandboxInfo) => Promise<void> | void;
  /** before the sandbox goes down: close clients, revive killed daemons, print measurements */
  readonly beforeStop?: () => Promise<void> | void;
}

export interface TestSandbox {
  readonly dir: string;
  /** the sandbox's first port; final once the file's before hook ran */
  portBase: number;
  readonly batch: SandboxBatch;
}

// One TORQUE cluster per machine (trqauthd's socket is fixed): another file's or developer's waits its turn.
const TORQUE_WAIT_MS = 45 * 60_000;

// The setup every sandbox-based integration file needs, and a teardown that leaves no process behind
// (KEEP_SANDBOX=1 keeps it running for a look afterwards).
export function useSandbox(t: Test, options: UseSandboxOptions): TestSandbox {
  const { prefix, verbose, users, ready, beforeStop, ...sandboxOptions } = options;
  const batch = sandboxOptions.batch ?? TEST_BATCH;
  const dir = mkdtempSync(prefix);
  const sandbox = { dir, portBase: 0, batch };
  let readyRan = false;
  t.before(async () => {
    // tap's process info follows the children the tests run as other users; in a fresh checkout
    // processinfo/ does not exist yet, and the first root child to exit would make it 0755 (EACCES noise)
    mkdirSync(join(process.cwd(), '.tap', 'processinfo'), { recursive: true });
    await runCommand('chmod', ['-R', 'a+rwX', join(process.cwd(), '.tap')], {});
    for (const user of users ?? []) {
      if ((await runCommand('id', ['-u', user], {})).exitCode !== 0) await runCommand('useradd', ['-m', '-s', '/bin/bash', user], {});
    }
    const log = verbose === true ? { log: (l: string) => { t.comment(`sandbox: ${l}`); } } : {};
    // a free port range is found at start; a port taken between that check and the daemon's bind is tried again
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const info = await startSandbox({ ...sandboxOptions, batch, dir, ...log });
        sandbox.portBase = info.portBase;
        await ready?.(info);
        readyRan = true;
        return;
      } catch (err) {
        const text = String(err);
        const torqueBusy = /another TORQUE sandbox runs on this machine/.test(text) && Date.now() - started < TORQUE_WAIT_MS;
        if (!torqueBusy && (attempt >= 3 || !/Address already in use|sandbox-not-ours/.test(text))) throw err;
        t.comment(torqueBusy ? 'another TORQUE sandbox runs on this machine: waiting for it' : `sandbox ports taken (attempt ${attempt}); another range`);
        await stopSandbox(dir);
        if (torqueBusy) await new Promise((r) => setTimeout(r, 10_000));
      }
    }
  });
  t.teardown(async () => {
    if (readyRan) await beforeStop?.();
    if (process.env['KEEP_SANDBOX'] === '1') return;
    const problems = await stopSandbox(dir);
    if (problems.length > 0) console.error(problems.join('\n'));
    await runCommand('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 60_000 });
  });
  return sandbox;
}
