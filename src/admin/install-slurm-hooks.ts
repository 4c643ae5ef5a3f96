// `ve admin install slurm-hooks`: the wrappers slurm.conf names (Prolog, Epilog, HealthCheckProgram).
import { access, constants, lstat, mkdir, readFile } from 'node:fs/promises';
import { writeRootFile } from './write-root-file.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { buildHookWrapperScript, isHookWrapper } from './build-hook-wrapper-script.js';
import type { InstallReport, InstallStep } from './install-report.js';
import type { SlurmHookPaths } from './install-server.js';

export const DEFAULT_SLURM_HOOK_DIR = '/usr/local/libexec/pbs-ve';

export interface InstallSlurmHooksOptions {
  readonly hookDir: string;
  readonly dryRun: boolean;
  readonly nodePath: string;
  readonly installDir: string;
  readonly configDir: string;
  /** the partitions whose jobs the Prolog must see (VE and op queue) and the Epilog (VE queue): jobs of any
   *  other partition (vemon's event jobs, the site's own) pass in /bin/sh without starting node */
  readonly prologQueues: readonly string[];
  readonly epilogQueues: readonly string[];
}

const HOOKS = [
  ['ve-prolog', 'dist/src/prologue/main.js'],
  ['ve-epilog', 'dist/src/epilogue/main.js'],
  ['ve-health-check', 'dist/src/mom-hooks/main.js'],
] as const;

/** Where the wrappers are, as slurm.conf must name them. */
export function buildSlurmHookPaths(hookDir: string): SlurmHookPaths {
  return { prolog: join(hookDir, 've-prolog'), epilog: join(hookDir, 've-epilog'), healthCheck: join(hookDir, 've-health-check') };
}

// Slurm runs Prolog/Epilog without PATH; these files are ours alone, so they are simply (re)written.
export async function installSlurmHooks(options: InstallSlurmHooksOptions): Promise<InstallReport> {
  try {
    await access(options.nodePath, constants.X_OK);
  } catch (err) {
    throw new VeError('install-incomplete', 'prereq', `node is not executable at ${options.nodePath}`, { cause: err });
  }
  // a wrapper naming a missing entry point would fail every job's Prolog and drain the node: refuse it here
  for (const [, entry] of HOOKS) {
    const entryPath = join(options.installDir, entry);
    try {
      await access(entryPath, constants.R_OK);
    } catch (err) {
      throw new VeError('install-incomplete', 'prereq', `installDir: ${entryPath} is missing (config installDir must be the directory pbs-ve is built in: npm run build there)`, { cause: err, field: 'installDir' });
    }
  }
  if (!options.dryRun && process.getuid?.() !== 0) throw new VeError('not-root', 'prereq', 'installing Slurm hooks needs root; use --dry-run to preview');
  const steps: InstallStep[] = [];
  if (!options.dryRun) await mkdir(options.hookDir, { recursive: true, mode: 0o755 });
  for (const [name, entry] of HOOKS) {
    const path = join(options.hookDir, name);
    const queues = name === 've-prolog' ? options.prologQueues : name === 've-epilog' ? options.epilogQueues : undefined;
    const content = buildHookWrapperScript({
      name, nodePath: options.nodePath, entryPath: join(options.installDir, entry), configDir: options.configDir, leadingArgs: [], chain: 'plain',
      ...(queues === undefined ? {} : { queues, queueVariable: 'SLURM_JOB_PARTITION' }),
    });
    const current = await lstat(path).then(async (st) => (st.isFile() ? readFile(path, 'utf8') : ''), () => undefined);
    if (current !== undefined && !isHookWrapper(current)) throw new VeError('site-script-conflict', 'prereq', `${path} exists and is not a pbs-ve wrapper`);
    if (current === content) {
      steps.push({ path, action: 'unchanged', detail: '' });
      continue;
    }
    steps.push({ path, action: current === undefined ? 'create' : 'update', detail: `root:root 0500 wrapper -> ${join(options.installDir, entry)}` });
    if (options.dryRun) continue;
    await writeRootFile(path, content, 0o500);
  }
  return { dryRun: options.dryRun, steps };
}
