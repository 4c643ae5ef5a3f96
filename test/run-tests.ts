// The README's test command ends here: unit tests in parallel, integration tests (real slapd, Slurm or
// TORQUE, libvirtd) one file at a time, then one closing line "N passed, N failed" for CI. An integration
// file whose text says "backends: slurm torque" runs twice: on the Slurm sandbox and on the TORQUE one
// (PBS_VE_TEST_BATCH=torque; --slurm-only / --torque-only pick one).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.find((a) => !a.startsWith('--'));

function listTests(kind: 'unit' | 'integration'): string[] {
  try {
    return readdirSync(join(here, kind)).filter((f) => f.endsWith('.test.js') && (only === undefined || f.includes(only))).sort().map((f) => join(here, kind, f));
  } catch {
    return [];
  }
}

interface Summary { pass: number; fail: number; skip: number; exitCode: number }

// tap prints "# { total: N, pass: P, fail: F, skip: S }" last; we add files up across the two runs.
function runTap(files: readonly string[], jobs: number, env: Record<string, string> = {}): Promise<Summary> {
  if (files.length === 0) return Promise.resolve({ pass: 0, fail: 0, skip: 0, exitCode: 0 });
  const tapBin = join(here, '../../node_modules/.bin/tap');
  return new Promise((resolve) => {
    const child = spawn(tapBin, ['--reporter=tap', `--jobs=${jobs}`, '--disable-coverage', '--allow-incomplete-coverage', ...files], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/.exec(tail);
      const total = Number(m?.[1] ?? 0);
      const fail = Number(m?.[3] ?? 0) + (m === null && code !== 0 ? 1 : 0);
      resolve({ pass: Number(m?.[2] ?? total - fail), fail, skip: Number(m?.[4] ?? 0), exitCode: code ?? 1 });
    });
  });
}

const unitOnly = args.includes('--unit');
const integrationOnly = args.includes('--integration');
const none = { pass: 0, fail: 0, skip: 0, exitCode: 0 };
const unit = integrationOnly ? none : await runTap(listTests('unit'), 2);
const integrationFiles = unitOnly ? [] : listTests('integration');
const bothBackends = integrationFiles.filter((f) => readFileSync(f, 'utf8').includes('backends: slurm torque'));
const onSlurm = args.includes('--torque-only') ? none : await runTap(integrationFiles, 1, { PBS_VE_TEST_BATCH: 'slurm' });
const onTorque = args.includes('--slurm-only') ? none : await runTap(bothBackends, 1, { PBS_VE_TEST_BATCH: 'torque' });
const runs = [unit, onSlurm, onTorque];
const pass = runs.reduce((n, r) => n + r.pass, 0);
const fail = runs.reduce((n, r) => n + r.fail + (r.exitCode !== 0 && r.fail === 0 ? 1 : 0), 0);
const skip = runs.reduce((n, r) => n + r.skip, 0);
process.stdout.write(`\n${pass} passed, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}\n`);
process.exit(fail === 0 ? 0 : 1);
