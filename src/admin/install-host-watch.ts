// `ve admin install host-watch`: the systemd service that runs ve-host-watch on a VE host. Without it no VE
// job of the host ends when its guest powers off and no LXC console is read (docs/design.md "The job body
// and the host watcher").
import { access, constants, lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { writeRootFile } from './write-root-file.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { InstallReport, InstallStep } from './install-report.js';

export const HOST_WATCH_UNIT = 'pbs-ve-host-watch.service';
export const DEFAULT_SYSTEMD_UNIT_DIR = '/etc/systemd/system';
export const HOST_WATCH_ENTRY = 'dist/src/host-watch/main.js';
/** the job body every VE job script runs (ve create writes `<installDir>/scripts/job-body.sh`) */
export const JOB_BODY_SCRIPT = 'scripts/job-body.sh';
/** Every unit we write carries this line; a file without it is the site's, never ours. */
export const UNIT_MARKER = '# pbs-ve-unit: installed by `ve admin install host-watch`; re-run the installer instead of editing';

const SYSTEMCTL_TIMEOUT_MS = 60_000;
/** systemd splits ExecStart at blanks and expands $ and %: values are kept to plain path characters */
const SAFE_UNIT_VALUE = /^[A-Za-z0-9_.,:/@+=%-]+$/;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

export interface HostWatchUnitOptions {
  readonly nodePath: string;
  readonly installDir: string;
  readonly configDir: string;
  /** this host as the batch system names it */
  readonly host: string;
}

export interface InstallHostWatchOptions extends HostWatchUnitOptions {
  readonly unitDir: string;
  readonly dryRun: boolean;
  /** run systemctl (daemon-reload, enable --now / restart); false: only write the unit (images, chroots) */
  readonly systemctl: boolean;
  readonly run?: RunCommand;
}

export interface UninstallHostWatchOptions {
  readonly unitDir: string;
  readonly dryRun: boolean;
  readonly systemctl: boolean;
  readonly run?: RunCommand;
}

// A value systemd would split, expand or reinterpret is refused, not quoted; "%" (the sandbox's "%h") is escaped.
function unitValue(field: string, value: string, absolute: boolean): string {
  if (absolute && !value.startsWith('/')) throw new VeError('invalid-field', 'prereq', `${field}: must be an absolute path (got ${JSON.stringify(value)})`, { field });
  if (!SAFE_UNIT_VALUE.test(value)) {
    throw new VeError('invalid-field', 'prereq', `${field}: must be a plain path or word of [A-Za-z0-9_.,:/@+=%-] (got ${JSON.stringify(value)})`, { field });
  }
  return value.replaceAll('%', '%%');
}

// One watcher per host, for the host's whole life: systemd restarts it whatever ended it (it reconnects to libvirtd itself).
export function buildHostWatchUnit(o: HostWatchUnitOptions): string {
  if (!HOST_NAME.test(o.host)) throw new VeError('invalid-field', 'prereq', `host: must be a host name of letters, digits and hyphens (got ${JSON.stringify(o.host)})`, { field: 'host' });
  const node = unitValue('nodePath', o.nodePath, true);
  const entry = unitValue('installDir', join(o.installDir, HOST_WATCH_ENTRY), true);
  const configDir = unitValue('configDir', o.configDir, true);
  return [
    UNIT_MARKER,
    '[Unit]',
    'Description=pbs-ve host watcher: ends VE jobs when their VEs end, copies LXC consoles',
    // ordering only: a libvirtd restart must not stop the watcher (it reconnects and looks at every VE)
    'After=network.target libvirtd.service virtlxcd.service virtqemud.service',
    '',
    '[Service]',
    'Type=simple',
    'User=root',
    `Environment=PBS_VE_CONFIG_DIR=${configDir}`,
    `ExecStart=${node} ${entry} --host ${o.host}`,
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

async function readUnit(path: string): Promise<string | undefined> {
  return lstat(path).then(async (st) => (st.isFile() ? readFile(path, 'utf8') : ''), () => undefined);
}

async function runSystemctl(args: readonly string[], run: RunCommand): Promise<void> {
  const r = await run('systemctl', args, { timeoutMs: SYSTEMCTL_TIMEOUT_MS });
  if (r.exitCode !== 0) {
    throw new VeError('systemctl-failed', 'environment', `systemctl ${args.join(' ')}: ${r.stderr.trim() || `exit ${String(r.exitCode)}`} (--no-start writes the unit only)`);
  }
}

// Fails before touching anything: a unit pointing at a missing node or build would restart forever.
async function checkInstallation(o: InstallHostWatchOptions): Promise<void> {
  try {
    await access(o.nodePath, constants.X_OK);
  } catch (err) {
    throw new VeError('install-incomplete', 'prereq', `node is not executable at ${o.nodePath}`, { cause: err });
  }
  for (const file of [join(o.installDir, HOST_WATCH_ENTRY), join(o.installDir, JOB_BODY_SCRIPT)]) {
    try {
      await access(file, constants.R_OK);
    } catch (err) {
      throw new VeError('install-incomplete', 'prereq', `${file} is missing: build the project (npm run build) in ${o.installDir}`, { cause: err });
    }
  }
  if (!o.dryRun && process.getuid?.() !== 0) throw new VeError('not-root', 'prereq', 'installing a systemd unit needs root; use --dry-run to preview');
}

// The unit is (re)written only when it differs; a running watcher is restarted only then.
export async function installHostWatch(o: InstallHostWatchOptions): Promise<InstallReport> {
  const content = buildHostWatchUnit(o);
  await checkInstallation(o);
  const path = join(o.unitDir, HOST_WATCH_UNIT);
  const current = await readUnit(path);
  if (current !== undefined && !current.startsWith(UNIT_MARKER)) throw new VeError('site-unit-conflict', 'prereq', `${path} exists and is not pbs-ve's unit`);
  const steps: InstallStep[] = [];
  const changed = current !== content;
  steps.push(changed
    ? { path, action: current === undefined ? 'create' : 'update', detail: `root:root 0644 unit: ve-host-watch --host ${o.host}, Restart=always` }
    : { path, action: 'unchanged', detail: '' });
  if (changed && !o.dryRun) {
    await mkdir(o.unitDir, { recursive: true, mode: 0o755 });
    await writeRootFile(path, content, 0o644);
  }
  if (!o.systemctl) {
    steps.push({ path: `systemctl enable --now ${HOST_WATCH_UNIT}`, action: 'manual', detail: 'not run (--no-start)' });
    return { dryRun: o.dryRun, steps };
  }
  const commands = [
    ...(changed ? [['daemon-reload']] : []),
    ['enable', '--now', HOST_WATCH_UNIT],
    // enable --now leaves a running watcher on its old unit
    ...(changed && current !== undefined ? [['restart', HOST_WATCH_UNIT]] : []),
  ];
  for (const args of commands) {
    steps.push({ path: `systemctl ${args.join(' ')}`, action: 'run', detail: '' });
    if (!o.dryRun) await runSystemctl(args, o.run ?? runCommand);
  }
  return { dryRun: o.dryRun, steps };
}

// Stops the watcher first: a unit file removed under a running service leaves it running unmanaged.
export async function uninstallHostWatch(o: UninstallHostWatchOptions): Promise<InstallReport> {
  const path = join(o.unitDir, HOST_WATCH_UNIT);
  const current = await readUnit(path);
  if (current === undefined) return { dryRun: o.dryRun, steps: [{ path, action: 'unchanged', detail: 'not installed' }] };
  if (!current.startsWith(UNIT_MARKER)) throw new VeError('site-unit-conflict', 'prereq', `${path} is not pbs-ve's unit: left alone`);
  if (!o.dryRun && process.getuid?.() !== 0) throw new VeError('not-root', 'prereq', 'removing a systemd unit needs root; use --dry-run to preview');
  const steps: InstallStep[] = [];
  const run = o.run ?? runCommand;
  if (o.systemctl) {
    steps.push({ path: `systemctl disable --now ${HOST_WATCH_UNIT}`, action: 'run', detail: 'VE jobs of this host no longer end with their VEs' });
    if (!o.dryRun) await runSystemctl(['disable', '--now', HOST_WATCH_UNIT], run);
  }
  steps.push({ path, action: 'remove', detail: '' });
  if (!o.dryRun) await rm(path, { force: true });
  if (o.systemctl) {
    steps.push({ path: 'systemctl daemon-reload', action: 'run', detail: '' });
    if (!o.dryRun) await runSystemctl(['daemon-reload'], run);
  }
  return { dryRun: o.dryRun, steps };
}
