import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { runCommand } from '../core/run-command.js';
import { VeError } from '../core/ve-error.js';
import { PROJECT_DIR, SANDBOX_USER, type SandboxInfo } from './sandbox.js';

export const DEMO_USER = SANDBOX_USER;
const VE_MAIN = join(PROJECT_DIR, 'dist/src/qsub-wrappers/main.js');

export interface VeCommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

// Users run `ve` as themselves: the demo and the tests do the same through runuser.
export async function runVeAs(info: SandboxInfo, user: string | undefined, args: readonly string[], timeoutMs = 120_000): Promise<VeCommandResult> {
  const node = process.execPath;
  const cwd = join(info.dir, 'work');
  const env = { ...info.env, HOME: cwd };
  if (user === undefined || user === 'root') return runCommand(node, [VE_MAIN, ...args], { env, timeoutMs, cwd });
  return runCommand('runuser', ['-u', user, '--', node, VE_MAIN, ...args], { env, timeoutMs, cwd });
}

export async function waitForLdapState(info: SandboxInfo, user: string | undefined, name: string, wanted: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const r = await runVeAs(info, user, ['list', '--all', '--json']);
    if (r.exitCode === 0) {
      const rows = JSON.parse(r.stdout) as { name: string; state: string }[];
      if (rows.some((row) => row.name === name && row.state === wanted)) return Date.now() - started;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new VeError('demo-timeout', 'environment', `VE ${name} did not reach ${wanted} in LDAP within ${timeoutMs} ms`);
}

/** The user story of the README, for real, printing every step and the two timings. */
export async function runDemo(info: SandboxInfo, print: (line: string) => void): Promise<{ createToRunningMs: number; destroyToDestroyedMs: number }> {
  const user = existsSync('/home/' + DEMO_USER) ? DEMO_USER : undefined;
  const step = async (args: string[]): Promise<VeCommandResult> => {
    print(`$ ve ${args.join(' ')}`);
    const r = await runVeAs(info, user, args);
    if (r.stdout !== '') print(r.stdout.trimEnd());
    if (r.stderr !== '') print(r.stderr.trimEnd());
    if (r.exitCode !== 0) throw new VeError('demo-step-failed', 'environment', `ve ${args.join(' ')} exited ${r.exitCode}`);
    return r;
  };
  const t0 = Date.now();
  await step(['create', 'web1', '--type', 'lxc', '--image', 'tiny', '--vcpus', '1', '--memory', '256', '--lease', '2h']);
  await waitForLdapState(info, user, 'web1', 'running', 120_000);
  const createToRunningMs = Date.now() - t0;
  print(`# ve create -> LDAP running: ${createToRunningMs} ms`);
  await step(['list']);
  await step(['show', 'web1']);
  const t1 = Date.now();
  await step(['destroy', 'web1', '--wait', '2m']);
  const destroyToDestroyedMs = Date.now() - t1;
  print(`# ve destroy -> LDAP destroyed: ${destroyToDestroyedMs} ms`);
  await step(['list', '--all']);
  return { createToRunningMs, destroyToDestroyedMs };
}
