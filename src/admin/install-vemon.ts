// `ve admin install vemon`: the vemon node's secrets and state, owned by the account its event jobs run as.
import { chmod, chown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import type { InstallReport, InstallStep } from './install-report.js';
import type { UserIds } from '../host/find-user-ids.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface InstallVemonOptions {
  readonly config: PbsVeConfig;
  /** the config dir the vemon jobs run with (holding host-keys/) */
  readonly configDir: string;
  readonly account: string;
  readonly ids: UserIds;
  readonly dryRun: boolean;
}

/** Who runs ve-monitor: the account vemon jobs run as (TORQUE: the submitter, qsub refuses root; Slurm: root's Prolog submits). */
export function findMonitorAccount(config: PbsVeConfig): string {
  return config.batch.kind === 'torque' ? config.batch.eventSubmitUser : 'root';
}

interface Target {
  readonly path: string;
  readonly dir: boolean;
  readonly mode: number;
}

// Everything the monitor reads or writes, deepest last: its state is walked so spool files follow their directory.
async function listTargets(options: InstallVemonOptions): Promise<{ targets: Target[]; missing: InstallStep[] }> {
  const keys = join(options.configDir, 'host-keys');
  const monitor = join(options.config.stateDir, 'monitor');
  const targets: Target[] = [{ path: keys, dir: true, mode: 0o700 }];
  const missing: InstallStep[] = [];
  for (const name of await readdir(keys).catch(() => [] as string[])) {
    if (name.endsWith('.key')) targets.push({ path: join(keys, name), dir: false, mode: 0o600 });
  }
  const credentials = options.config.ldapWriteCredentialsFile;
  if (await lstat(credentials).then(() => true, () => false)) targets.push({ path: credentials, dir: false, mode: 0o600 });
  else missing.push({ path: credentials, action: 'manual', detail: 'not there yet: write {"bindDn": ..., "password": ...} (docs/admin-torque.md, L) and run this again' });
  const walk = async (dir: string): Promise<void> => {
    targets.push({ path: dir, dir: true, mode: 0o700 });
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
      else targets.push({ path: join(dir, entry.name), dir: false, mode: 0o600 });
    }
  };
  await walk(monitor);
  return { targets, missing };
}

/**
 * Gives the monitor account its files: <configDir>/host-keys (0700) and its keys (0600), ldap-write.json
 * (0600), <stateDir>/monitor and everything in it. Never follows a symlink; idempotent.
 */
export async function installVemon(options: InstallVemonOptions): Promise<InstallReport> {
  if (!options.dryRun && process.geteuid?.() !== 0) throw new VeError('not-root', 'prereq', 'installing the vemon side needs root; use --dry-run to preview');
  const { targets, missing } = await listTargets(options);
  const steps: InstallStep[] = [];
  const owner = `${options.account} (${options.ids.uid}:${options.ids.gid})`;
  // checked all before anything changes: a refusal leaves every file as it was
  const found = await Promise.all(targets.map((target) => lstat(target.path).catch(() => undefined)));
  targets.forEach((target, i) => {
    const st = found[i];
    if (st?.isSymbolicLink() === true) throw new VeError('install-refused', 'prereq', `${target.path} is a symbolic link: refusing to change its owner (replace it with the real ${target.dir ? 'directory' : 'file'}); nothing was changed`);
    if (st !== undefined && st.isDirectory() !== target.dir) throw new VeError('install-refused', 'prereq', `${target.path}: expected a ${target.dir ? 'directory' : 'file'}; nothing was changed`);
  });
  for (const [i, target] of targets.entries()) {
    const st = found[i];
    const detail = `${owner}, mode 0${target.mode.toString(8)}`;
    if (st === undefined) {
      steps.push({ path: target.path, action: 'create', detail });
      if (options.dryRun) continue;
      await mkdir(target.path, { recursive: true, mode: target.mode });
    } else if (st.uid === options.ids.uid && st.gid === options.ids.gid && (st.mode & 0o777) === target.mode) {
      steps.push({ path: target.path, action: 'unchanged', detail });
      continue;
    } else {
      steps.push({ path: target.path, action: 'update', detail: `${detail} (was ${st.uid}:${st.gid}, mode 0${(st.mode & 0o777).toString(8)})` });
      if (options.dryRun) continue;
    }
    await chown(target.path, options.ids.uid, options.ids.gid);
    await chmod(target.path, target.mode);
  }
  return { dryRun: options.dryRun, steps: [...steps, ...missing] };
}
