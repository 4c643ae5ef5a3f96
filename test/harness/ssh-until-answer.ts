// The first `ve ssh` that answers: the guest may still be leasing its address, bringing up its NICs or
// starting dropbear.
import { runVeAs } from '../../src/sandbox/run-demo.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';

export async function sshUntilAnswer(info: SandboxInfo, user: string, name: string, command: readonly string[], timeoutMs: number): Promise<{ stdout: string; ms: number; tries: number }> {
  const started = Date.now();
  let last = '';
  for (let tries = 1; Date.now() - started < timeoutMs; tries++) {
    const r = await runVeAs(info, user, ['ssh', name, '--', ...command], 150_000);
    if (r.exitCode === 0) return { stdout: r.stdout, ms: Date.now() - started, tries };
    last = `exit ${r.exitCode}: ${r.stderr}`;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`ve ssh ${name} never answered: ${last}`);
}
