// The README's test command ends here: unit tests in parallel, integration tests (real slapd, Slurm,
// libvirtd) one file at a time, then one closing line "N passed, N failed" for CI.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
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
function runTap(files: readonly string[], jobs: number): Promise<Summary> {
  if (files.length === 0) return Promise.resolve({ pass: 0, fail: 0, skip: 0, exitCode: 0 });
  const tapBin = join(here, '../../node_modules/.bin/tap');
  return new Promise((resolve) => {
    const child = spawn(tapBin, ['--reporter=tap', `--jobs=${jobs}`, '--disable-coverage', '--allow-incomplete-coverage', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
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
const unit = integrationOnly ? { pass: 0, fail: 0, skip: 0, exitCode: 0 } : await runTap(listTests('unit'), 2);
const integration = unitOnly ? { pass: 0, fail: 0, skip: 0, exitCode: 0 } : await runTap(listTests('integration'), 1);
const pass = unit.pass + integration.pass;
const fail = unit.fail + integration.fail + (unit.exitCode !== 0 && unit.fail === 0 ? 1 : 0) + (integration.exitCode !== 0 && integration.fail === 0 ? 1 : 0);
const skip = unit.skip + integration.skip;
process.stdout.write(`\n${pass} passed, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}\n`);
process.exit(fail === 0 ? 0 : 1);
