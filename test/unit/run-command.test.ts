// runCommand: a process that ran and died of a signal is data (128 + signal number, its stderr), not "could not run".
import t from 'tap';
import { runCommand } from '../../src/core/run-command.js';

void t.test('death by signal is an exit code with stderr, as a shell reports it; a missing program still throws', async (t) => {
  const aborted = await runCommand('sh', ['-c', 'echo "failed to set MSR 0x10a" >&2; kill -ABRT $$'], { timeoutMs: 10_000 });
  t.equal(aborted.exitCode, 134, 'SIGABRT: 128 + 6');
  t.match(aborted.stderr, /failed to set MSR 0x10a/, 'what it said before dying is kept');
  const killed = await runCommand('sh', ['-c', 'kill -KILL $$'], { timeoutMs: 10_000 });
  t.equal(killed.exitCode, 137);
  await t.rejects(runCommand('/nonexistent/program', [], { timeoutMs: 10_000 }), { code: 'command-failed-to-start' });
  await t.rejects(runCommand('sleep', ['5'], { timeoutMs: 100 }), { code: 'command-timeout' });
});

void t.test('a cancelled command ends at once and throws command-cancelled, not a result', async (t) => {
  const cancel = new AbortController();
  const running = runCommand('sleep', ['30'], { timeoutMs: 60_000, cancelSignal: cancel.signal });
  cancel.abort();
  await t.rejects(running, { code: 'command-cancelled', kind: 'environment' });
});
