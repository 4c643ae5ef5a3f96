// `ve admin install mom` / `uninstall mom`: pbs-ve's wrappers in TORQUE's mom_priv, the site's scripts kept.
import { access, constants, lstat, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { writeRootFile } from './write-root-file.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { buildHookWrapperScript, isHookWrapper, type HookWrapperOptions } from './build-hook-wrapper-script.js';
import type { InstallReport, InstallStep } from './install-report.js';

export type MomHookKind = 'prologue' | 'epilogue' | 'prologue.parallel' | 'epilogue.parallel';

export const MOM_HOOK_KINDS: readonly MomHookKind[] = ['prologue', 'epilogue', 'prologue.parallel', 'epilogue.parallel'];

/**
 * Installed by older versions, no longer: TORQUE runs epilogue.precancel as the job OWNER inside qdel
 * handling (kill_job with SIGTERM), so it can tear nothing down, must be world-readable, and a slow one
 * makes qdel time out (30 s on the live run, `ve destroy` exit 3). The root epilogue does all the work.
 */
export const RETIRED_MOM_HOOKS: readonly string[] = ['epilogue.precancel'];

/** the health hook's wrapper in mom_priv, named in `$node_check_script` */
export const HEALTH_CHECK_FILE = 'pbs-ve-health-check';
export const SITE_ORIG_SUFFIX = '.site-orig';
const CONFIG_MARKER = '# pbs-ve: node health check (added by ve admin install mom --node-check)';
const NUSERS_MARKER = '# pbs-ve: nusers answered from here, see docs/admin-torque.md (added by ve admin install mom --yes)';
/** the static resource that keeps pbs_mom from running its nusers() */
export const NUSERS_LINE = 'nusers 0';
const MODE = 0o500;

export interface InstallMomOptions {
  /** TORQUE's PBS_HOME (/var/spool/torque): mom_priv is below it */
  readonly pbsHome: string;
  readonly dryRun: boolean;
  readonly nodePath: string;
  /** the installed project, holding dist/ */
  readonly installDir: string;
  /** written into every wrapper as PBS_VE_CONFIG_DIR */
  readonly configDir: string;
  /** the VE queue: jobs of other queues never start node (omit to let every job reach pbs-ve) */
  readonly veQueue?: string;
  /** add `$node_check_script` to mom_priv/config */
  readonly nodeCheck?: boolean;
  /** allow editing mom_priv/config although pbs-ve did not create it */
  readonly yes?: boolean;
}

export interface UninstallMomOptions {
  readonly pbsHome: string;
  readonly dryRun: boolean;
  readonly yes?: boolean;
}

type Entry = { readonly kind: 'absent' } | { readonly kind: 'ours'; readonly content: string; readonly mode: number; readonly uid: number; readonly gid: number } | { readonly kind: 'foreign' };

// A wrapper is recognised by its marker; anything else (including symlinks) belongs to the site.
async function inspect(path: string): Promise<Entry> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw new VeError('install-read-failed', 'environment', `cannot inspect ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) return { kind: 'foreign' };
  const content = await readFile(path, 'utf8');
  return isHookWrapper(content) ? { kind: 'ours', content, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : { kind: 'foreign' };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function entryFor(kind: MomHookKind): string {
  return kind.startsWith('prologue') ? 'dist/src/prologue/main.js' : 'dist/src/epilogue/main.js';
}

// Fails before touching anything: a wrapper pointing at a missing node would fail every VE job.
async function checkInstallation(options: InstallMomOptions, momPriv: string): Promise<void> {
  const st = await stat(momPriv).catch(() => undefined);
  if (st?.isDirectory() !== true) {
    throw new VeError('mom-priv-missing', 'prereq', `${momPriv} is not a directory: is --pbs-home (${options.pbsHome}) TORQUE's PBS_HOME?`);
  }
  try {
    await access(options.nodePath, constants.X_OK);
  } catch (err) {
    throw new VeError('install-incomplete', 'prereq', `node is not executable at ${options.nodePath}`, { cause: err });
  }
  for (const entry of [...new Set(MOM_HOOK_KINDS.map(entryFor)), 'dist/src/mom-hooks/main.js']) {
    const file = join(options.installDir, entry);
    if (!(await exists(file))) throw new VeError('install-incomplete', 'prereq', `${file} is missing: build the project (npx tsc -p .) in ${options.installDir}`);
  }
  if (!options.dryRun && process.getuid?.() !== 0) {
    throw new VeError('not-root', 'prereq', 'installing into mom_priv needs root (files must be root-owned); use --dry-run to preview');
  }
}

// One mom_priv script: ours written, the site's moved aside once and chained.
async function installOne(path: string, wrapper: Omit<HookWrapperOptions, 'siteScript'>, dryRun: boolean): Promise<InstallStep[]> {
  const steps: InstallStep[] = [];
  const orig = `${path}${SITE_ORIG_SUFFIX}`;
  const entry = await inspect(path);
  if (entry.kind === 'foreign') {
    if (await exists(orig)) {
      throw new VeError('site-script-conflict', 'prereq', `${path} is not a pbs-ve wrapper and ${orig} exists too: merge them by hand, then re-run`);
    }
  }
  const site = entry.kind === 'foreign' || (await exists(orig)) ? orig : undefined;
  // built before anything moves: a refused path must not leave the site script moved aside without a wrapper
  const content = buildHookWrapperScript({ ...wrapper, ...(site === undefined ? {} : { siteScript: site }) });
  if (entry.kind === 'foreign') {
    steps.push({ path, action: 'move-aside', detail: `site script kept as ${orig} (same bytes and mode), run first by the wrapper` });
    if (!dryRun) await rename(path, orig);
  }
  if (entry.kind === 'ours' && entry.content === content && entry.mode === MODE && entry.uid === 0 && entry.gid === 0) {
    steps.push({ path, action: 'unchanged', detail: site === undefined ? '' : `chains ${orig}` });
    return steps;
  }
  const chained = site === undefined ? '' : `, chains ${orig}`;
  steps.push({ path, action: entry.kind === 'ours' ? 'update' : 'create', detail: `root:root 0500 wrapper -> ${wrapper.entryPath}${chained}` });
  if (!dryRun) await writeRootFile(path, content, MODE);
  return steps;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VeError('install-read-failed', 'environment', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

// mom_priv/config is the site's file: pbs-ve adds one line only when asked, and only with --yes.
async function installNodeCheck(momPriv: string, healthPath: string, options: InstallMomOptions): Promise<InstallStep[]> {
  const file = join(momPriv, 'config');
  const line = `$node_check_script ${healthPath}`;
  const current = await readText(file);
  const reload = { path: 'pbs_mom', action: 'manual' as const, detail: 'send SIGHUP to pbs_mom (or restart it) so it rereads mom_priv/config' };
  if (current === undefined) {
    if (!options.dryRun) await writeFile(file, `${CONFIG_MARKER}\n${line}\n`, { mode: 0o644, flag: 'wx' });
    return [{ path: file, action: 'create', detail: line }, reload];
  }
  const lines = current.split('\n');
  if (lines.includes(line)) return [{ path: file, action: 'unchanged', detail: line }];
  const other = lines.find((l) => /^\s*\$node_check_script\s/.test(l));
  if (other !== undefined) {
    return [{ path: file, action: 'manual', detail: `already has "${other.trim()}": TORQUE runs one check script; call ${healthPath} from it (its ERROR line must come first)` }];
  }
  if (options.yes !== true) return [{ path: file, action: 'manual', detail: `add the line "${line}" (or re-run with --yes to let pbs-ve append it)` }];
  if (!options.dryRun) await writeFile(file, `${current}${current === '' || current.endsWith('\n') ? '' : '\n'}${CONFIG_MARKER}\n${line}\n`);
  return [{ path: file, action: 'append', detail: line }, reload];
}

// TORQUE 6.1's nusers() (mom_mach.c) reallocs its uid list to maxuid bytes instead of maxuid uids: once more than
// 200 non-root uids run on the host (every LXC VE runs as its own id range) pbs_mom corrupts its heap and aborts at
// its next status update. A static resource of that name is answered from mom_priv/config instead.
async function installNusersGuard(momPriv: string, options: InstallMomOptions): Promise<InstallStep[]> {
  const file = join(momPriv, 'config');
  const current = await readText(file);
  const why = 'pbs_mom of TORQUE 6.1 aborts once more than 200 non-root uids run on the host (each LXC VE is one)';
  const existing = current?.split('\n').find((l) => /^\s*nusers\s/.test(l));
  if (existing !== undefined) return [{ path: file, action: 'unchanged', detail: existing.trim() }];
  if (options.yes !== true) return [{ path: file, action: 'manual', detail: `add the line "${NUSERS_LINE}" (${why}), or re-run with --yes to let pbs-ve append it` }];
  const text = current ?? '';
  if (!options.dryRun) await writeFile(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${NUSERS_MARKER}\n${NUSERS_LINE}\n`, { mode: 0o644 });
  return [{ path: file, action: current === undefined ? 'create' : 'append', detail: `${NUSERS_LINE} (${why})` }, { path: 'pbs_mom', action: 'manual', detail: 'send SIGHUP to pbs_mom (or restart it) so it rereads mom_priv/config' }];
}

/** Installs the four mom_priv wrappers (+ the health hook wrapper) and removes retired ones; idempotent; with dryRun only reports. */
export async function installMom(options: InstallMomOptions): Promise<InstallReport> {
  const momPriv = join(options.pbsHome, 'mom_priv');
  await checkInstallation(options, momPriv);
  const steps: InstallStep[] = [];
  for (const kind of MOM_HOOK_KINDS) {
    const prologue = kind.startsWith('prologue');
    steps.push(...(await installOne(join(momPriv, kind), {
      name: kind,
      nodePath: options.nodePath,
      entryPath: join(options.installDir, entryFor(kind)),
      configDir: options.configDir,
      leadingArgs: ['--torque', kind],
      chain: prologue ? 'pre' : 'post',
      ...(options.veQueue === undefined ? {} : { queues: [options.veQueue], queueArg: prologue ? 6 : 8 }),
      // a broken pbs-ve install must abort a VE job (1), never requeue it in a loop
      missingExitCode: 1,
    }, options.dryRun)));
  }
  const healthPath = join(momPriv, HEALTH_CHECK_FILE);
  const health = await inspect(healthPath);
  if (health.kind === 'foreign') throw new VeError('site-script-conflict', 'prereq', `${healthPath} exists and is not a pbs-ve wrapper`);
  steps.push(...(await installOne(healthPath, {
    name: HEALTH_CHECK_FILE,
    nodePath: options.nodePath,
    entryPath: join(options.installDir, 'dist/src/mom-hooks/main.js'),
    configDir: options.configDir,
    leadingArgs: [],
    chain: 'plain',
    missingExitCode: 1,
  }, options.dryRun)));
  if (options.nodeCheck === true) steps.push(...(await installNodeCheck(momPriv, healthPath, options)));
  steps.push(...(await installNusersGuard(momPriv, options)));
  for (const name of RETIRED_MOM_HOOKS) steps.push(...(await retireOne(join(momPriv, name), options.dryRun)));
  return { dryRun: options.dryRun, steps };
}

// A wrapper an older pbs-ve installed goes (the site's script, if it chained one, comes back); the site's own stays.
async function retireOne(path: string, dryRun: boolean): Promise<InstallStep[]> {
  if ((await inspect(path)).kind !== 'ours') return [];
  const steps = await uninstallOne(path, dryRun);
  return steps.map((s) => ({ ...s, detail: `${s.detail === '' ? '' : `${s.detail}; `}pbs-ve no longer uses ${path.slice(path.lastIndexOf('/') + 1)} (it runs as the job owner and qdel waits for it)` }));
}

// Our wrapper goes; the site's script comes back exactly as it was (rename keeps bytes, mode, owner).
async function uninstallOne(path: string, dryRun: boolean): Promise<InstallStep[]> {
  const orig = `${path}${SITE_ORIG_SUFFIX}`;
  const entry = await inspect(path);
  const hasOrig = await exists(orig);
  if (entry.kind === 'foreign') {
    return [{ path, action: 'keep', detail: `not a pbs-ve wrapper${hasOrig ? `; ${orig} left as it is` : ''}` }];
  }
  if (hasOrig) {
    if (!dryRun) await rename(orig, path);
    return [{ path, action: 'restore', detail: `site script from ${orig}` }];
  }
  if (entry.kind === 'absent') return [];
  if (!dryRun) await rm(path);
  return [{ path, action: 'remove', detail: '' }];
}

// Our lines (each after its marker) leave mom_priv/config with --yes; a config holding nothing else was ours and goes.
async function uninstallConfigLines(momPriv: string, options: UninstallMomOptions): Promise<InstallStep[]> {
  const file = join(momPriv, 'config');
  const current = await readText(file);
  if (current === undefined) return [];
  const check = `$node_check_script ${join(momPriv, HEALTH_CHECK_FILE)}`;
  const lines = current.split('\n');
  const ours = new Set<number>();
  lines.forEach((l, i) => {
    if (l === check) ours.add(i);
    if (l === CONFIG_MARKER && lines[i + 1] === check) ours.add(i);
    if (l === NUSERS_MARKER && lines[i + 1] === NUSERS_LINE) { ours.add(i); ours.add(i + 1); }
  });
  if (![...ours].some((i) => lines[i] === check || lines[i] === NUSERS_LINE)) return [];
  const removed = [...ours].map((i) => lines[i] ?? '').filter((l) => l === check || l === NUSERS_LINE).map((l) => `"${l}"`).join(' and ');
  const kept = lines.filter((_, i) => !ours.has(i)).join('\n');
  if (kept.trim() === '') {
    if (!options.dryRun) await rm(file);
    return [{ path: file, action: 'remove', detail: `held only pbs-ve's lines (${removed})` }];
  }
  if (options.yes !== true) return [{ path: file, action: 'manual', detail: `remove the line(s) ${removed} (or re-run with --yes)` }];
  if (!options.dryRun) await writeFile(file, kept);
  return [{ path: file, action: 'update', detail: `removed ${removed}` }];
}

/** Undoes installMom: wrappers removed, moved-aside site scripts restored byte for byte. */
export async function uninstallMom(options: UninstallMomOptions): Promise<InstallReport> {
  const momPriv = join(options.pbsHome, 'mom_priv');
  const st = await stat(momPriv).catch(() => undefined);
  if (st?.isDirectory() !== true) throw new VeError('mom-priv-missing', 'prereq', `${momPriv} is not a directory`);
  const steps: InstallStep[] = [];
  steps.push(...(await uninstallConfigLines(momPriv, options)));
  for (const kind of [...MOM_HOOK_KINDS, ...RETIRED_MOM_HOOKS]) steps.push(...(await uninstallOne(join(momPriv, kind), options.dryRun)));
  const health = join(momPriv, HEALTH_CHECK_FILE);
  if ((await inspect(health)).kind === 'ours') {
    if (!options.dryRun) await rm(health);
    steps.push({ path: health, action: 'remove', detail: '' });
  }
  return { dryRun: options.dryRun, steps };
}
