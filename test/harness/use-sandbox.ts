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
  /** the sandbox's first port; final once the file's before hook ran */
  portBase: number;
}

// The setup every sandbox-based integration file needs, and a teardown that leaves no process behind
// (KEEP_SANDBOX=1 keeps it running for a look afterwards).
export function useSandbox(t: Test, options: UseSandboxOptions): TestSandbox {
  const { prefix, portRange, slots, verbose, users, ready, beforeStop, ...sandboxOptions } = options;
  const dir = mkdtempSync(prefix);
  const pickPortBase = (): number => portRange + Math.floor(Math.random() * (slots ?? 150)) * 60;
  const sandbox = { dir, portBase: pickPortBase() };
  let readyRan = false;
  t.before(async () => {
    // tap's process info follows the children the tests run as other users
    await runCommand('chmod', ['-R', 'a+rwX', join(process.cwd(), '.tap')], {});
    for (const user of users ?? []) {
      if ((await runCommand('id', ['-u', user], {})).exitCode !== 0) await runCommand('useradd', ['-m', '-s', '/bin/bash', user], {});
    }
    const log = verbose === true ? { log: (l: string) => { t.comment(`sandbox: ${l}`); } } : {};
    // the ports lie in the kernel's ephemeral range: a slot some outgoing connection holds is tried again elsewhere
    for (let attempt = 1; ; attempt++) {
      try {
        const info = await startSandbox({ ...sandboxOptions, dir, portBase: sandbox.portBase, ...log });
        await ready?.(info);
        readyRan = true;
        return;
      } catch (err) {
        if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
        t.comment(`sandbox ports ${sandbox.portBase}+ taken (attempt ${attempt}); another slot`);
        await stopSandbox(dir);
        sandbox.portBase = pickPortBase();
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
