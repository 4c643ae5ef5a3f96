// Every entry point answers --help (and ve --version) without side effects: no config read, no batch,
// libvirt or LDAP client started, no file written. Stubs of every client on PATH record any call.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../..');
const projectDir = join(dist, '..');
const pkg = JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const CLIENTS = ['sbatch', 'squeue', 'sinfo', 'scontrol', 'scancel', 'qsub', 'qstat', 'qdel', 'pbsnodes', 'qrerun', 'qmgr', 'virsh', 'ldapsearch', 'ldapmodify', 'runuser', 'id', 'ip'];

const sandbox = mkdtempSync(join(tmpdir(), 'pbsve-help-'));
const stubs = join(sandbox, 'bin');
const work = join(sandbox, 'work');
const calls = join(sandbox, 'calls.log');
await runCommand('mkdir', ['-p', stubs, work], {});
for (const c of CLIENTS) {
  writeFileSync(join(stubs, c), `#!/bin/sh\necho "${c} $*" >> ${calls}\nexit 1\n`);
  chmodSync(join(stubs, c), 0o755);
}
t.teardown(() => runCommand('rm', ['-rf', sandbox], {}).then(() => undefined));

// The bins of package.json (the job body is a shell script, scripts/job-body.sh, with no options).
const entries: [string, string][] = Object.entries(pkg.bin);

async function runBin(file: string, args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  // no config dir exists: a command that reads its config fails instead of answering
  const env = { PATH: `${stubs}:/usr/bin:/bin`, HOME: work, PBS_VE_CONFIG_DIR: join(sandbox, 'no-config'), SLURM_JOB_ID: '', PBS_JOBID: '' };
  return runCommand(process.execPath, [join(projectDir, file), ...args], { env, cwd: work, timeoutMs: 30_000 });
}

for (const [name, file] of entries) {
  void t.test(`${name} --help`, async (t) => {
    const r = await runBin(file, ['--help']);
    t.equal(r.exitCode, 0, `exit 0 (stderr: ${r.stderr.slice(0, 300)})`);
    t.match(r.stdout, /usage/i, 'usage text');
    t.notOk(existsSync(calls), `no client was started${existsSync(calls) ? `: ${readFileSync(calls, 'utf8')}` : ''}`);
    t.same(readdirSync(work), [], 'nothing written');
  });
}

for (const args of [['create', '--help'], ['list', '--help'], ['host', '--help'], ['host', 'drain', '--help'], ['destroy', '--help'], ['admin', 'install', 'server', '--help']]) {
  void t.test(`ve ${args.join(' ')}`, async (t) => {
    const r = await runBin(pkg.bin['ve'] ?? '', args);
    t.equal(r.exitCode, 0, r.stderr.slice(0, 300));
    t.match(r.stdout, /usage/i);
    t.notOk(existsSync(calls), 'no client was started');
  });
}

void t.test('ve --version prints package.json\'s version', async (t) => {
  const r = await runBin(pkg.bin['ve'] ?? '', ['--version']);
  t.equal(r.exitCode, 0);
  t.equal(r.stdout.trim(), pkg.version);
});

void t.test('a hook only answers a lone --help: with the batch system\'s own arguments after it, it is no help request', async (t) => {
  const { isHelpRequest } = await import('../../src/cli/answer-help-request.js');
  t.ok(isHelpRequest(['--help']));
  t.ok(isHelpRequest(['-h']));
  t.notOk(isHelpRequest([]));
  t.notOk(isHelpRequest(['--torque', 'prologue', '12.vm', 'user', 'group', '--help']), 'a job named --help is not a help request');
  t.notOk(isHelpRequest(['--help', 'x']));
});
