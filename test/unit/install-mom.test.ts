import t, { type Test } from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';
import { VeError } from '../../src/core/ve-error.js';
import { HEALTH_CHECK_FILE, installMom, MOM_HOOK_KINDS, uninstallMom, type InstallMomOptions } from '../../src/admin/install-mom.js';
import { formatInstallReport, type InstallReport, type InstallStep } from '../../src/admin/install-report.js';
import { buildHookWrapperScript, WRAPPER_MARKER } from '../../src/admin/build-hook-wrapper-script.js';

// argv exactly as the TORQUE 6.1 MOM passed it (test/fixtures/torque/pelog/*.15.vm.txt), job name made hostile
const HOSTILE_NAME = 'job A"$(touch /tmp/pbs-ve-pwned)`id`;x';
const PROLOGUE_ARGV = ['15.vm', 'user1', 'user1', HOSTILE_NAME, 'nodes=1:ppn=2:general,walltime=00:02:00,neednodes=1:ppn=2:general', 'batch', '', '/var/spool/torque/mom_priv/jobs/15.vm15003.SC'];
const EPILOGUE_ARGV = ['15.vm', 'user1', 'user1', 'jobA', '31639', 'nodes=1:ppn=2:general,walltime=00:02:00,neednodes=1:ppn=2:general',
  'cput=00:00:00,vmem=11640kb,walltime=00:00:25,mem=6788kb,energy_used=0', 'batch', '', '0', '/var/spool/torque/mom_priv/jobs/15.vm15003.SC'];

// The wrappers' steps: mom_priv/config's (the nusers guard asks for its line at every install) have their own test.
function hookSteps(report: InstallReport): InstallStep[] {
  return report.steps.filter((s) => !s.path.endsWith('/config'));
}

// A fake project: each entry point records argv and environment and exits with <configDir>/exit-code.
const FAKE_MAIN = `import { appendFileSync, readFileSync } from 'node:fs';
const dir = process.env.PBS_VE_CONFIG_DIR;
appendFileSync(dir + '/calls.jsonl', JSON.stringify({ entry: process.argv[1], argv: process.argv.slice(2), env: process.env }) + '\\n');
let code = 0;
try { code = Number(readFileSync(dir + '/exit-code', 'utf8')); } catch {}
process.exit(code);
`;

interface Call { entry: string; argv: string[]; env: Record<string, string> }

function setup(t: Test): { root: string; momPriv: string; configDir: string; options: InstallMomOptions; calls: () => Call[] } {
  const root = mkdtempSync(join(tmpdir(), 'adm-install-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  chmodSync(root, 0o755);
  const momPriv = join(root, 'torque', 'mom_priv');
  mkdirSync(momPriv, { recursive: true });
  const installDir = join(root, 'opt');
  for (const entry of ['prologue', 'epilogue', 'mom-hooks']) {
    mkdirSync(join(installDir, 'dist/src', entry), { recursive: true });
    writeFileSync(join(installDir, 'dist/src', entry, 'main.js'), FAKE_MAIN);
  }
  writeFileSync(join(installDir, 'package.json'), '{"type":"module"}\n');
  const configDir = join(root, 'etc');
  mkdirSync(configDir);
  const options: InstallMomOptions = { pbsHome: join(root, 'torque'), dryRun: false, nodePath: process.execPath, installDir, configDir, veQueue: 'batch' };
  const calls = (): Call[] => {
    const file = join(configDir, 'calls.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call) : [];
  };
  return { root, momPriv, configDir, options, calls };
}

// TORQUE runs the pelog with nearly nothing in the environment: so do we.
async function runLikeTorque(script: string, argv: readonly string[]): Promise<{ exitCode: number; stderr: string; ms: number }> {
  const t0 = performance.now();
  const r = await runCommand('env', ['-i', 'PATH=/bin:/usr/bin', script, ...argv], { timeoutMs: 20_000 });
  return { exitCode: r.exitCode, stderr: r.stderr, ms: performance.now() - t0 };
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const st = statSync(join(dir, f));
    out[f] = `${(st.mode & 0o7777).toString(8)} ${st.uid} ${readFileSync(join(dir, f), 'base64')}`;
  }
  return out;
}

void t.test('fresh install: four pelog wrappers plus the health hook, root-owned regular files, mode 0500', async (t) => {
  const { momPriv, options } = setup(t);
  const report = await installMom(options);
  const names = [...MOM_HOOK_KINDS, HEALTH_CHECK_FILE];
  t.same(hookSteps(report).map((s) => [s.path, s.action]), names.map((n) => [join(momPriv, n), 'create']));
  for (const name of names) {
    const st = statSync(join(momPriv, name));
    t.ok(st.isFile(), `${name} is a regular file`);
    t.equal(st.mode & 0o7777, 0o500, `${name} mode 0500`);
    t.equal(st.uid, 0, `${name} owned by root`);
    t.equal(st.gid, 0, `${name} group root`);
    const text = readFileSync(join(momPriv, name), 'utf8');
    t.ok(text.startsWith('#!/bin/sh\n'), `${name} is a /bin/sh script`);
    t.ok(text.includes(WRAPPER_MARKER), `${name} carries the marker`);
    t.ok(text.includes(`'${process.execPath}'`), `${name} names node by absolute path`);
    t.ok(text.includes(`PBS_VE_CONFIG_DIR='${options.configDir}'`), `${name} sets the config dir`);
  }
  t.same(readdirSync(momPriv).sort(), [...names].sort(), 'nothing else was written');
  t.ok(readFileSync(join(momPriv, 'prologue'), 'utf8').includes(`'--torque' 'prologue' "$@"`));
  t.notOk(existsSync(join(momPriv, 'epilogue.precancel')), 'no precancel: TORQUE runs it as the owner inside qdel');
  t.ok(readFileSync(join(momPriv, 'prologue.parallel'), 'utf8').includes('dist/src/prologue/main.js'));
  t.ok(readFileSync(join(momPriv, 'epilogue.parallel'), 'utf8').includes('dist/src/epilogue/main.js'));
});

void t.test('re-running is idempotent: same bytes, everything unchanged, no second chaining', async (t) => {
  const { momPriv, options } = setup(t);
  writeFileSync(join(momPriv, 'prologue'), '#!/bin/sh\nexit 0\n', { mode: 0o500 });
  await installMom(options);
  const before = snapshot(momPriv);
  const again = await installMom(options);
  t.same(hookSteps(again).map((s) => s.action), new Array(5).fill('unchanged'));
  t.same(snapshot(momPriv), before);
  t.notOk(existsSync(join(momPriv, 'prologue.site-orig.site-orig')));
  t.equal(readFileSync(join(momPriv, 'prologue'), 'utf8').split('prologue.site-orig').length - 1, 1, 'the site script is called once');
});

void t.test('an installed wrapper that was tampered with (mode, content) is rewritten', async (t) => {
  const { momPriv, options } = setup(t);
  await installMom(options);
  chmodSync(join(momPriv, 'epilogue'), 0o755);
  const report = await installMom({ ...options, configDir: join(options.configDir, 'other') });
  t.equal(report.steps.find((s) => s.path.endsWith('/epilogue'))?.action, 'update');
  t.equal(statSync(join(momPriv, 'epilogue')).mode & 0o7777, 0o500);
});

void t.test('the prologue wrapper runs like TORQUE runs it: empty environment, argv untouched', async (t) => {
  const { momPriv, configDir, options, calls } = setup(t);
  await installMom(options);
  const r = await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV);
  t.equal(r.exitCode, 0, r.stderr);
  const [call] = calls();
  t.same(call?.argv, ['--torque', 'prologue', ...PROLOGUE_ARGV], 'the hostile job name arrives as one untouched argument');
  t.equal(call?.env['PBS_VE_CONFIG_DIR'], configDir);
  t.equal(call?.env['PATH'], '/bin:/usr/bin');
  t.ok(call?.entry.endsWith('/dist/src/prologue/main.js'));
  t.notOk(existsSync('/tmp/pbs-ve-pwned'), 'nothing in argv was executed');
  const e = await runLikeTorque(join(momPriv, 'epilogue.parallel'), EPILOGUE_ARGV);
  t.equal(e.exitCode, 0);
  t.same(calls()[1]?.argv, ['--torque', 'epilogue.parallel', ...EPILOGUE_ARGV]);
});

void t.test('jobs of other queues pass without starting node', async (t) => {
  const { momPriv, options, calls } = setup(t);
  await installMom(options);
  const argv = [...PROLOGUE_ARGV];
  argv[5] = 'other';
  const r = await runLikeTorque(join(momPriv, 'prologue'), argv);
  t.equal(r.exitCode, 0);
  t.equal(calls().length, 0);
  // measured, not asserted (house rule: no timing thresholds in tests; under load it took 100-200 ms)
  t.comment(`non-VE job passed in ${r.ms.toFixed(1)} ms`);
  const e = [...EPILOGUE_ARGV];
  e[7] = 'other';
  t.equal((await runLikeTorque(join(momPriv, 'epilogue'), e)).exitCode, 0);
  t.equal(calls().length, 0);
  await installMom({ pbsHome: options.pbsHome, dryRun: false, nodePath: options.nodePath, installDir: options.installDir, configDir: options.configDir });
  t.equal((await runLikeTorque(join(momPriv, 'prologue'), argv)).exitCode, 0);
  t.equal(calls().length, 1, 'without veQueue every job reaches pbs-ve');
});

void t.test('our entry point failing is the wrapper\'s exit code', async (t) => {
  const { momPriv, configDir, options } = setup(t);
  await installMom(options);
  writeFileSync(join(configDir, 'exit-code'), '1');
  t.equal((await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV)).exitCode, 1);
  writeFileSync(join(configDir, 'exit-code'), '2');
  t.equal((await runLikeTorque(join(momPriv, 'prologue.parallel'), PROLOGUE_ARGV)).exitCode, 2);
});

void t.test('a missing node or project aborts the VE job (exit 1) instead of requeueing it forever', async (t) => {
  const { momPriv, options } = setup(t);
  await installMom(options);
  rmSync(join(options.installDir, 'dist/src/prologue/main.js'));
  const r = await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /is missing: re-run ve admin install/);
});

void t.test('a site prologue is moved aside (bytes and mode kept) and runs first with the same argv', async (t) => {
  const { momPriv, configDir, options, calls } = setup(t);
  const site = `#!/bin/sh\nprintf '%s\\n' "$@" > ${configDir}/site-argv\necho "PATH=$PATH" >> ${configDir}/site-argv\nexit "$(cat ${configDir}/site-exit 2>/dev/null || echo 0)"\n`;
  writeFileSync(join(momPriv, 'prologue'), site, { mode: 0o700 });
  chmodSync(join(momPriv, 'prologue'), 0o700);
  writeFileSync(join(momPriv, 'epilogue'), site, { mode: 0o500 });
  chmodSync(join(momPriv, 'epilogue'), 0o500);
  const report = await installMom(options);
  t.same(report.steps.slice(0, 2).map((s) => s.action), ['move-aside', 'create']);
  t.equal(readFileSync(join(momPriv, 'prologue.site-orig'), 'utf8'), site);
  t.equal(statSync(join(momPriv, 'prologue.site-orig')).mode & 0o7777, 0o700);
  t.equal(statSync(join(momPriv, 'epilogue.site-orig')).mode & 0o7777, 0o500);

  const ok = await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV);
  t.equal(ok.exitCode, 0, ok.stderr);
  t.equal(readFileSync(join(configDir, 'site-argv'), 'utf8'), `${PROLOGUE_ARGV.join('\n')}\nPATH=/bin:/usr/bin\n`);
  t.equal(calls().length, 1, 'then ours ran');

  writeFileSync(join(configDir, 'site-exit'), '1');
  const failed = await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV);
  t.equal(failed.exitCode, 1, 'the site prologue\'s exit 1 aborts the job');
  t.equal(calls().length, 1, 'and pbs-ve is not started for it');
  writeFileSync(join(configDir, 'site-exit'), '2');
  t.equal((await runLikeTorque(join(momPriv, 'prologue'), PROLOGUE_ARGV)).exitCode, 2, 'other codes pass through as the site meant them');

  writeFileSync(join(configDir, 'site-exit'), '3');
  const epi = await runLikeTorque(join(momPriv, 'epilogue'), EPILOGUE_ARGV);
  t.equal(epi.exitCode, 3, 'the site epilogue\'s failure is the wrapper\'s exit');
  t.equal(calls().length, 2, 'but the VE is still torn down: ours ran after it');
  t.same(calls()[1]?.argv, ['--torque', 'epilogue', ...EPILOGUE_ARGV]);

  const again = await installMom(options);
  t.same(hookSteps(again).map((s) => s.action), new Array(5).fill('unchanged'), 'chaining survives a re-run unchanged');
});

void t.test('uninstall restores the site scripts byte for byte and removes the rest', async (t) => {
  const { momPriv, options } = setup(t);
  const site = Buffer.from('#!/bin/bash\n# site prologue \u00e9\u0000binary\nexit 0\n', 'utf8');
  writeFileSync(join(momPriv, 'prologue'), site);
  chmodSync(join(momPriv, 'prologue'), 0o550);
  writeFileSync(join(momPriv, 'config'), '$pbsserver vm\n');
  const before = snapshot(momPriv);
  await installMom(options);
  const report = await uninstallMom({ pbsHome: options.pbsHome, dryRun: false });
  t.same(report.steps.map((s) => s.action), ['restore', 'remove', 'remove', 'remove', 'remove']);
  t.same(snapshot(momPriv), before, 'mom_priv is exactly as before');
  t.same(readFileSync(join(momPriv, 'prologue')), site);
  const twice = await uninstallMom({ pbsHome: options.pbsHome, dryRun: false });
  t.same(twice.steps.map((s) => s.action), ['keep'], 'a second uninstall leaves the site script alone');
});

void t.test('--dry-run reports what would change and changes nothing', async (t) => {
  const { momPriv, options } = setup(t);
  writeFileSync(join(momPriv, 'epilogue'), '#!/bin/sh\nexit 0\n', { mode: 0o500 });
  const before = snapshot(momPriv);
  const report = await installMom({ ...options, dryRun: true, nodeCheck: true });
  t.same(snapshot(momPriv), before);
  t.match(formatInstallReport(report), /would move-aside .*\/epilogue: site script kept as .*epilogue\.site-orig/);
  t.match(formatInstallReport(report), /\(dry run: nothing was changed\)/);
  await installMom(options);
  const installed = snapshot(momPriv);
  await uninstallMom({ pbsHome: options.pbsHome, dryRun: true });
  t.same(snapshot(momPriv), installed);
});

void t.test('refuses to guess: site script and a .site-orig both present, missing mom_priv, missing node', async (t) => {
  const { momPriv, options } = setup(t);
  const err = await installMom({ ...options, configDir: '/etc/pbs ve' }).catch((e: unknown) => e);
  t.ok(err instanceof VeError && err.code === 'invalid-field', 'a path a shell would split is refused');
  writeFileSync(join(momPriv, 'prologue'), '#!/bin/sh\nexit 0\n');
  writeFileSync(join(momPriv, 'prologue.site-orig'), '#!/bin/sh\nexit 0\n');
  await t.rejects(installMom(options), { code: 'site-script-conflict', kind: 'prereq' });
  await t.rejects(installMom({ ...options, pbsHome: join(options.pbsHome, 'nope') }), { code: 'mom-priv-missing' });
  await t.rejects(installMom({ ...options, nodePath: '/nonexistent/node' }), { code: 'install-incomplete' });
  await t.rejects(installMom({ ...options, installDir: '/nonexistent' }), { code: 'install-incomplete' });
});

void t.test('$node_check_script: only with the flag, never into a site file without --yes', async (t) => {
  const { momPriv, options } = setup(t);
  const line = `$node_check_script ${join(momPriv, HEALTH_CHECK_FILE)}`;
  await installMom(options);
  t.notOk(existsSync(join(momPriv, 'config')), 'no flag, no config');

  const created = await installMom({ ...options, nodeCheck: true });
  t.ok(created.steps.some((s) => s.action === 'create' && s.path.endsWith('/config')));
  t.ok(readFileSync(join(momPriv, 'config'), 'utf8').includes(`${line}\n`));
  t.ok((await installMom({ ...options, nodeCheck: true })).steps.some((s) => s.action === 'unchanged' && s.path.endsWith('/config')));
  await uninstallMom({ pbsHome: options.pbsHome, dryRun: false });
  t.notOk(existsSync(join(momPriv, 'config')), 'a config holding only our line was ours and goes');

  writeFileSync(join(momPriv, 'config'), '$pbsserver vm\n$logevent 255');
  const manual = await installMom({ ...options, nodeCheck: true });
  const step = manual.steps.find((s) => s.path.endsWith('/config'));
  t.equal(step?.action, 'manual');
  t.match(step?.detail, line);
  t.equal(readFileSync(join(momPriv, 'config'), 'utf8'), '$pbsserver vm\n$logevent 255', 'site config untouched');

  await installMom({ ...options, nodeCheck: true, yes: true });
  t.match(readFileSync(join(momPriv, 'config'), 'utf8'), /^\$pbsserver vm\n\$logevent 255\n# pbs-ve: .*\n\$node_check_script .*pbs-ve-health-check\n# pbs-ve: nusers .*\nnusers 0\n$/);
  const keep = await uninstallMom({ pbsHome: options.pbsHome, dryRun: false });
  t.equal(keep.steps[0]?.action, 'manual', 'uninstall asks before editing the site file');
  await uninstallMom({ pbsHome: options.pbsHome, dryRun: false, yes: true });
  t.equal(readFileSync(join(momPriv, 'config'), 'utf8'), '$pbsserver vm\n$logevent 255\n');

  writeFileSync(join(momPriv, 'config'), '$node_check_script /usr/sbin/nhc\n');
  const other = await installMom({ ...options, nodeCheck: true });
  t.match(other.steps.find((s) => s.path.endsWith('/config'))?.detail, /already has "\$node_check_script \/usr\/sbin\/nhc"/);
  t.equal(readFileSync(join(momPriv, 'config'), 'utf8'), '$node_check_script /usr/sbin/nhc\n');
});

// TORQUE 6.1's nusers() corrupts pbs_mom's heap past 200 non-root uids (a 256-VE storm lost every MOM at once).
void t.test('nusers 0: asked for without --yes, appended with it, kept if the site has one, removed with ours', async (t) => {
  const { momPriv, options } = setup(t);
  const config = join(momPriv, 'config');
  const plain = await installMom(options);
  const ask = plain.steps.find((s) => s.path === config);
  t.equal(ask?.action, 'manual');
  t.match(ask?.detail, /add the line "nusers 0" \(pbs_mom of TORQUE 6\.1 aborts once more than 200 non-root uids run/);
  t.notOk(existsSync(config), 'nothing written without --yes');

  writeFileSync(config, '$pbsserver vm');
  const dry = await installMom({ ...options, yes: true, dryRun: true });
  t.equal(dry.steps.find((s) => s.path === config)?.action, 'append');
  t.equal(readFileSync(config, 'utf8'), '$pbsserver vm', 'a dry run writes nothing');
  const yes = await installMom({ ...options, yes: true });
  t.equal(yes.steps.find((s) => s.path === config)?.action, 'append');
  t.ok(yes.steps.some((s) => s.path === 'pbs_mom' && s.action === 'manual'), 'the MOM must reread its config');
  t.match(readFileSync(config, 'utf8'), /^\$pbsserver vm\n# pbs-ve: nusers .*\nnusers 0\n$/);
  t.equal((await installMom({ ...options, yes: true })).steps.find((s) => s.path === config)?.action, 'unchanged', 'idempotent');
  await uninstallMom({ pbsHome: options.pbsHome, dryRun: false, yes: true });
  t.equal(readFileSync(config, 'utf8'), '$pbsserver vm\n', 'our two lines go, the site\'s stay');

  writeFileSync(config, '$pbsserver vm\nnusers 3\n');
  const site = await installMom({ ...options, yes: true });
  t.same(site.steps.find((s) => s.path === config), { path: config, action: 'unchanged', detail: 'nusers 3' });
  await uninstallMom({ pbsHome: options.pbsHome, dryRun: false, yes: true });
  t.equal(readFileSync(config, 'utf8'), '$pbsserver vm\nnusers 3\n', 'a site nusers line is the site\'s');
});

// Issue 9, defect 5: an older install's precancel made every qdel wait for node as the job owner.
void t.test('an epilogue.precancel of an older install is removed, a chained site script restored, the site\'s own kept', async (t) => {
  const { momPriv, options } = setup(t);
  const old = buildHookWrapperScript({ name: 'epilogue.precancel', nodePath: options.nodePath, entryPath: join(options.installDir, 'dist/src/epilogue/main.js'), configDir: options.configDir, leadingArgs: ['--torque', 'epilogue.precancel'], chain: 'post' });
  writeFileSync(join(momPriv, 'epilogue.precancel'), old, { mode: 0o500 });
  const dry = await installMom({ ...options, dryRun: true });
  t.match(dry.steps.find((s) => s.path.endsWith('/epilogue.precancel')), { action: 'remove', detail: /no longer uses epilogue\.precancel/ });
  t.ok(existsSync(join(momPriv, 'epilogue.precancel')), 'dry run changes nothing');
  await installMom(options);
  t.notOk(existsSync(join(momPriv, 'epilogue.precancel')), 'our old wrapper is gone');
  t.same(hookSteps(await installMom(options)).map((s) => s.action), new Array(5).fill('unchanged'), 'and stays gone');

  writeFileSync(join(momPriv, 'epilogue.precancel.site-orig'), '#!/bin/sh\nexit 0\n', { mode: 0o555 });
  writeFileSync(join(momPriv, 'epilogue.precancel'), buildHookWrapperScript({ name: 'epilogue.precancel', nodePath: options.nodePath, entryPath: join(options.installDir, 'dist/src/epilogue/main.js'), configDir: options.configDir, leadingArgs: ['--torque', 'epilogue.precancel'], chain: 'post', siteScript: join(momPriv, 'epilogue.precancel.site-orig') }), { mode: 0o500 });
  const restored = await installMom(options);
  t.match(restored.steps.find((s) => s.path.endsWith('/epilogue.precancel')), { action: 'restore' });
  t.equal(readFileSync(join(momPriv, 'epilogue.precancel'), 'utf8'), '#!/bin/sh\nexit 0\n', 'the site script is back, byte for byte');
  t.equal(statSync(join(momPriv, 'epilogue.precancel')).mode & 0o7777, 0o555);
  t.notOk(existsSync(join(momPriv, 'epilogue.precancel.site-orig')));

  const again = await installMom(options);
  t.notOk(again.steps.some((s) => s.path.endsWith('/epilogue.precancel')), 'a site precancel is not pbs-ve\'s business');
  t.ok(existsSync(join(momPriv, 'epilogue.precancel')));
  const un = await uninstallMom({ pbsHome: options.pbsHome, dryRun: false });
  t.match(un.steps.find((s) => s.path.endsWith('/epilogue.precancel')), { action: 'keep' });
});

void t.test('a precancel wrapper left on a host that was not re-installed ends at once, whoever runs it', async (t) => {
  const entry = fileURLToPath(new URL('../../src/epilogue/main.js', import.meta.url));
  const r = await runCommand(process.execPath, [entry, '--torque', 'epilogue.precancel', ...EPILOGUE_ARGV], { timeoutMs: 20_000, env: { PBS_VE_CONFIG_DIR: '/nonexistent/pbs-ve' } });
  t.equal(r.exitCode, 0, `no config, no lock, no libvirt touched: ${r.stderr}`);
});
