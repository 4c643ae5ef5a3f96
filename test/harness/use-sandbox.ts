// Test harness: one sandbox cluster per integration file, started before its tests and always taken down.
import type { Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { startSandbox, stopSandbox, type SandboxInfo, type SandboxOptions } from '../../src/sandbox/sandbox.js';

export interface UseSandboxOptions extends Omit<SandboxOptions, 'dir' | 'portBase' | 'log'> {
  /** mkdtemp prefix of the sandbox dir, e.g. /tmp/pbsve-qemu- */
  readonly prefix: string;
  /** first port of this file's range; the sandbox takes a random 60-port slot in it */
  readonly portRange: number;
  /** how many 60-port slots the range has (default 150) */
  readonly slots?: number;
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
  readonly portBase: number;
}

// The setup every sandbox-based integration file needs, and a teardown that leaves no process behind
// (KEEP_SANDBOX=1 keeps it running for a look afterwards).
export function useSandbox(t: Test, options: UseSandboxOptions): TestSandbox {
  const { prefix, portRange, slots, verbose, users, ready, beforeStop, ...sandboxOptions } = options;
  const dir = mkdtempSync(prefix);
  const portBase = portRange + Math.floor(Math.random() * (slots ?? 150)) * 60;
  t.before(async () => {
    // tap's process info follows the children the tests run as other users
    await runCommand('chmod', ['-R', 'a+rwX', join(process.cwd(), '.tap')], {});
    for (const user of users ?? []) {
      if ((await runCommand('id', ['-u', user], {})).exitCode !== 0) await runCommand('useradd', ['-m', '-s', '/bin/bash', user], {});
    }
    const info = await startSandbox({ ...sandboxOptions, dir, portBase, ...(verbose === true ? { log: (l: string) => { t.comment(`sandbox: ${l}`); } } : {}) });
    await ready?.(info);
  });
  t.teardown(async () => {
    await beforeStop?.();
    if (process.env['KEEP_SANDBOX'] === '1') return;
    const problems = await stopSandbox(dir);
    if (problems.length > 0) console.error(problems.join('\n'));
    await runCommand('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 60_000 });
  });
  return { dir, portBase };
}
