// ve admin install/uninstall host-watch against a temporary root: the unit's text, its file, the systemctl
// calls (recorded, never run), idempotence, dry runs, refusals.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildHostWatchUnit, HOST_WATCH_UNIT, installHostWatch, uninstallHostWatch, UNIT_MARKER, type InstallHostWatchOptions,
} from '../../src/admin/install-host-watch.js';
import { formatInstallReport } from '../../src/admin/install-report.js';
import type { RunCommand } from '../../src/core/run-command.js';

interface Setup { root: string; unitDir: string; unit: string; options: InstallHostWatchOptions; calls: string[] }

function setup(t: Test, exitCode = 0): Setup {
  const root = mkdtempSync(join(tmpdir(), 'adm-host-watch-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  const installDir = join(root, 'opt/pbs-ve');
  mkdirSync(join(installDir, 'dist/src/host-watch'), { recursive: true });
  mkdirSync(join(installDir, 'scripts'), { recursive: true });
  writeFileSync(join(installDir, 'dist/src/host-watch/main.js'), '');
  writeFileSync(join(installDir, 'scripts/job-body.sh'), '');
  const unitDir = join(root, 'etc/systemd/system');
  const calls: string[] = [];
  const run: RunCommand = (file, args) => {
    calls.push([file, ...args].join(' '));
    return Promise.resolve({ stdout: '', stderr: exitCode === 0 ? '' : 'System has not been booted with systemd', exitCode });
  };
  const options: InstallHostWatchOptions = {
    unitDir, dryRun: false, systemctl: true, nodePath: process.execPath, installDir, configDir: '/etc/pbs-ve', host: 'node17', run,
  };
  return { root, unitDir, unit: join(unitDir, HOST_WATCH_UNIT), options, calls };
}

void t.test('the unit: root, the host, the config dir, restarted always, not bound to libvirtd', (t) => {
  const unit = buildHostWatchUnit({ nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', configDir: '/etc/pbs-ve', host: 'node17' });
  t.ok(unit.startsWith(`${UNIT_MARKER}\n[Unit]\n`));
  t.match(unit, /^User=root$/m);
  t.match(unit, /^Environment=PBS_VE_CONFIG_DIR=\/etc\/pbs-ve$/m);
  t.match(unit, /^ExecStart=\/usr\/bin\/node \/opt\/pbs-ve\/dist\/src\/host-watch\/main\.js --host node17$/m);
  t.match(unit, /^Restart=always$/m);
  t.match(unit, /^WantedBy=multi-user\.target$/m);
  t.notMatch(unit, /^(Requires|BindsTo|PartOf)=/m, 'a libvirtd restart does not stop the watcher');
  // systemd expands %: the sandbox's per-host config dir keeps its literal "%h"
  t.match(buildHostWatchUnit({ nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', configDir: '/srv/hosts/%h/etc', host: 'n1' }), /^Environment=PBS_VE_CONFIG_DIR=\/srv\/hosts\/%%h\/etc$/m);
  t.end();
});

void t.test('hostile or odd values are refused with the field named, not quoted', (t) => {
  const ok = { nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', configDir: '/etc/pbs-ve', host: 'node17' };
  t.throws(() => buildHostWatchUnit({ ...ok, host: 'node17 --x' }), { code: 'invalid-field', field: 'host', message: /letters, digits and hyphens/ });
  t.throws(() => buildHostWatchUnit({ ...ok, host: 'a\nExecStartPre=/bin/rm' }), { code: 'invalid-field', field: 'host' });
  t.throws(() => buildHostWatchUnit({ ...ok, configDir: '/etc/pbs ve' }), { code: 'invalid-field', field: 'configDir' });
  t.throws(() => buildHostWatchUnit({ ...ok, configDir: '/etc/$HOME' }), { code: 'invalid-field', field: 'configDir' });
  t.throws(() => buildHostWatchUnit({ ...ok, nodePath: 'node' }), { code: 'invalid-field', field: 'nodePath', message: /absolute path/ });
  t.throws(() => buildHostWatchUnit({ ...ok, installDir: '/opt/pbs-ve\nUser=nobody' }), { code: 'invalid-field', field: 'installDir' });
  t.end();
});

void t.test('install writes the unit (root:root 0644), reloads systemd and enables it; a second run changes nothing', async (t) => {
  const s = setup(t);
  const first = await installHostWatch(s.options);
  t.same(first.steps.map((x) => [x.path, x.action]), [[s.unit, 'create'], ['systemctl daemon-reload', 'run'], [`systemctl enable --now ${HOST_WATCH_UNIT}`, 'run']]);
  t.same(s.calls, ['systemctl daemon-reload', `systemctl enable --now ${HOST_WATCH_UNIT}`]);
  const st = statSync(s.unit);
  t.equal(st.mode & 0o7777, 0o644);
  t.equal(st.uid, 0);
  t.equal(readFileSync(s.unit, 'utf8'), buildHostWatchUnit(s.options));
  t.notOk(existsSync(`${s.unit}.pbs-ve-tmp`));
  s.calls.length = 0;
  const again = await installHostWatch(s.options);
  t.same(again.steps.map((x) => x.action), ['unchanged', 'run'], 'idempotent: enable --now only (starts a watcher someone stopped)');
  t.same(s.calls, [`systemctl enable --now ${HOST_WATCH_UNIT}`]);
  // a new host name (or install dir) rewrites the unit and restarts the running watcher on it
  s.calls.length = 0;
  const moved = await installHostWatch({ ...s.options, host: 'node18' });
  t.same(moved.steps.map((x) => x.action), ['update', 'run', 'run', 'run']);
  t.same(s.calls, ['systemctl daemon-reload', `systemctl enable --now ${HOST_WATCH_UNIT}`, `systemctl restart ${HOST_WATCH_UNIT}`]);
  t.match(readFileSync(s.unit, 'utf8'), /--host node18$/m);
});

void t.test('--dry-run says what would happen and changes nothing; --no-start writes the unit only', async (t) => {
  const s = setup(t);
  const dry = await installHostWatch({ ...s.options, dryRun: true });
  t.notOk(existsSync(s.unit));
  t.same(s.calls, []);
  t.match(formatInstallReport(dry), /^would create +.*pbs-ve-host-watch\.service: root:root 0644 unit: ve-host-watch --host node17, Restart=always\nwould run +systemctl daemon-reload\nwould run +systemctl enable --now pbs-ve-host-watch\.service\n\(dry run: nothing was changed\)$/);
  const quiet = await installHostWatch({ ...s.options, systemctl: false });
  t.ok(existsSync(s.unit));
  t.same(s.calls, []);
  t.match(formatInstallReport(quiet), /manual +systemctl enable --now pbs-ve-host-watch\.service: not run \(--no-start\)/);
});

void t.test('refusals before anything changes: a missing build or node, a unit that is not ours, systemctl failing', async (t) => {
  const s = setup(t);
  rmSync(join(s.options.installDir, 'scripts/job-body.sh'));
  await t.rejects(installHostWatch(s.options), { code: 'install-incomplete', message: /scripts\/job-body\.sh is missing: build the project/ });
  await t.rejects(installHostWatch({ ...s.options, nodePath: join(s.root, 'no-node') }), { code: 'install-incomplete', message: /node is not executable/ });
  t.notOk(existsSync(s.unit));
  const f = setup(t);
  mkdirSync(f.unitDir, { recursive: true });
  writeFileSync(f.unit, '[Service]\nExecStart=/usr/local/bin/site-watch\n');
  await t.rejects(installHostWatch(f.options), { code: 'site-unit-conflict' });
  await t.rejects(uninstallHostWatch({ unitDir: f.unitDir, dryRun: false, systemctl: false }), { code: 'site-unit-conflict' });
  t.equal(readFileSync(f.unit, 'utf8'), '[Service]\nExecStart=/usr/local/bin/site-watch\n', 'the site\'s unit is left alone');
  const n = setup(t, 1);
  await t.rejects(installHostWatch(n.options), { code: 'systemctl-failed', kind: 'environment', message: /systemctl daemon-reload: System has not been booted with systemd \(--no-start writes the unit only\)/ });
});

void t.test('uninstall stops and disables the watcher, removes the unit, reloads; again: nothing to do', async (t) => {
  const s = setup(t);
  await installHostWatch(s.options);
  s.calls.length = 0;
  const un = { unitDir: s.unitDir, dryRun: false, systemctl: true, run: s.options.run ?? (() => Promise.reject(new Error('no run'))) };
  const dry = await uninstallHostWatch({ ...un, dryRun: true });
  t.ok(existsSync(s.unit), 'dry run removes nothing');
  t.same(dry.steps.map((x) => x.action), ['run', 'remove', 'run']);
  const done = await uninstallHostWatch(un);
  t.same(done.steps.map((x) => x.path), [`systemctl disable --now ${HOST_WATCH_UNIT}`, s.unit, 'systemctl daemon-reload']);
  t.same(s.calls, [`systemctl disable --now ${HOST_WATCH_UNIT}`, 'systemctl daemon-reload']);
  t.notOk(existsSync(s.unit));
  t.same((await uninstallHostWatch(un)).steps.map((x) => [x.action, x.detail]), [['unchanged', 'not installed']]);
});
