import t from 'tap';
import { parseConfig } from '../../src/config/load-config.js';
import { applyTorqueServerCommands, buildSlurmConfLines, buildTorqueNodeNotes, buildTorqueServerCommands, findMonitorHosts, findVeHosts, formatTorqueWalltime } from '../../src/admin/install-server.js';
import { buildSlurmHookPaths, installSlurmHooks } from '../../src/admin/install-slurm-hooks.js';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeTempDir } from '../harness/make-temp-dir.js';
import type { CommandOptions, CommandResult } from '../../src/core/run-command.js';

const config = parseConfig({
  batch: { kind: 'torque', veQueue: 've', vemonQueue: 'vemon', maxLeaseSeconds: 7 * 86400 + 90 },
  ldap: { url: 'ldap://127.0.0.1', baseDn: 'dc=example' },
  virt: { hosts: { node1: {}, node2: {}, default: {} } },
});

void t.test('TORQUE: the exact qmgr commands', (t) => {
  t.same(buildTorqueServerCommands(config), [
    'create queue ve',
    'set queue ve queue_type = Execution',
    'set queue ve resources_max.walltime = 168:01:30',
    'set queue ve enabled = True',
    'set queue ve started = True',
    'create queue vemon',
    'set queue vemon queue_type = Execution',
    'set queue vemon resources_default.neednodes = 1:vemon',
    'set queue vemon resources_default.walltime = 00:10:00',
    'set queue vemon acl_user_enable = True',
    'set queue vemon acl_users = pbsve',
    'set queue vemon enabled = True',
    'set queue vemon started = True',
    'set server allow_node_submit = True',
    'set server query_other_jobs = True',
    'set server keep_completed = 300',
  ]);
  const custom = parseConfig({ batch: { kind: 'torque', vemonFeature: 'monitor', eventSubmitUser: 'svc-ve' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } });
  t.ok(buildTorqueServerCommands(custom).includes('set queue vemon resources_default.neednodes = 1:monitor'), 'batch.vemonFeature');
  t.ok(buildTorqueServerCommands(custom).includes('set queue vemon acl_users = svc-ve'), 'the submitter defaults to batch.eventSubmitUser');
  t.same(buildTorqueServerCommands(custom, { monitorHosts: ['mon1', 'mon2.example.org'] }).filter((c) => c.includes('operators')),
    ['set server operators += svc-ve@mon1', 'set server operators += svc-ve@mon2.example.org'], 'the event account is an operator at the vemon hosts only, for reconcile --recover');
  t.notOk(buildTorqueServerCommands(custom).some((c) => c.includes('operators')), 'no monitor host named: no operator entry');
  t.same(buildTorqueServerCommands(custom, { monitorHosts: ['mon1'], veHosts: ['node1', 'node2.example.org'] }).filter((c) => c.includes('operators')),
    ['set server operators += svc-ve@mon1', 'set server operators += root@node1', 'set server operators += root@node2.example.org'], 'root is an operator at the VE hosts only, for ve extend');
  for (const bad of ['*', 'node*', 'node1,mon1']) {
    t.throws(() => buildTorqueServerCommands(custom, { veHosts: [bad] }), { code: 'invalid-field', field: 'veHosts' }, `VE host ${JSON.stringify(bad)} refused`);
  }
  for (const bad of ['*', '*.example.org', 'mon1,node1', 'mon1 ', '']) {
    t.throws(() => buildTorqueServerCommands(custom, { monitorHosts: [bad] }), { code: 'invalid-field', field: 'monitorHosts' }, `host ${JSON.stringify(bad)} refused`);
  }
  t.throws(() => parseConfig({ batch: { kind: 'torque', vemonFeature: 'a:ppn=9' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } }), { code: 'invalid-config', field: 'batch.vemonFeature' });
  t.ok(buildTorqueServerCommands(config, { eventSubmitter: 'vemon-svc' }).includes('set queue vemon acl_users = vemon-svc'));
  t.throws(() => buildTorqueServerCommands(config, { eventSubmitter: 'a,b' }), { code: 'invalid-field' });
  t.throws(() => buildTorqueServerCommands({ ...config, batch: { ...config.batch, veQueue: 've; rm' } }), { code: 'invalid-field' });
  t.equal(formatTorqueWalltime(3600), '01:00:00');
  t.equal(formatTorqueWalltime(59), '00:00:59');
  t.same(buildTorqueNodeNotes(config).filter((l) => l.includes('set node node1')), ['#   set node node1 properties += kvm     # QEMU/KVM VEs may run here', '#   set node node1 properties += lxc     # LXC VEs may run here',
    '#   set node node1 np = 5      # for a host of 2 cpus']);
  t.ok(buildTorqueNodeNotes(config).some((l) => l.includes('np = 2 x cpus + 1')), 'the formula for the default slotsPerCpu 2');
  t.end();
});

void t.test('TORQUE: the vemon hosts default to the nodes with the vemon property', async (t) => {
  const node = (name: string, features: string[]) => ({ name, state: 'free' as const, rawState: 'free', cpus: 2, memoryMiB: 1024, features, jobIds: [], note: undefined });
  t.same(await findMonitorHosts({ listNodes: () => Promise.resolve([node('node1', ['lxc']), node('mon1', ['vemon']), node('mon2', ['x', 'vemon'])]) }, 'vemon'), ['mon1', 'mon2']);
  await t.rejects(findMonitorHosts({ listNodes: () => Promise.resolve([node('node1', ['lxc'])]) }, 'vemon'), { code: 'no-monitor-host', kind: 'prereq', message: /--monitor-host/ });
  t.same(await findVeHosts({ listNodes: () => Promise.resolve([node('node1', ['lxc']), node('node2', ['kvm', 'lxc']), node('mon1', ['vemon'])]) }), ['node1', 'node2']);
  await t.rejects(findVeHosts({ listNodes: () => Promise.resolve([node('mon1', ['vemon'])]) }), { code: 'no-ve-host', kind: 'prereq', message: /--ve-host/ });
});

void t.test('TORQUE: applied one by one through qmgr -c; a second run finds the queues there', async (t) => {
  const calls: { file: string; args: readonly string[]; timeoutMs: number | undefined }[] = [];
  const existing = new Set(['ve']);
  const run = (file: string, args: readonly string[], o?: CommandOptions): Promise<CommandResult> => {
    calls.push({ file, args, timeoutMs: o?.timeoutMs });
    const m = /^create queue (\S+)$/.exec(args[1] ?? '');
    if (m?.[1] !== undefined && existing.has(m[1])) return Promise.resolve({ stdout: '', stderr: `qmgr obj=${m[1]} svr=default: Queue already exists\n`, exitCode: 1 });
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
  };
  const commands = buildTorqueServerCommands(config);
  const results = await applyTorqueServerCommands(commands, { dryRun: false, binDir: '/opt/torque/bin', timeoutMs: 5000, runCommand: run });
  t.same(calls.map((c) => [c.file, ...c.args]), commands.map((c) => ['/opt/torque/bin/qmgr', '-c', c]));
  t.equal(calls[0]?.timeoutMs, 5000);
  t.same(results.slice(0, 2).map((r) => r.outcome), ['exists', 'applied']);

  const dry = await applyTorqueServerCommands(commands, { dryRun: true, runCommand: () => Promise.reject(new Error('must not run')) });
  t.ok(dry.every((r) => r.outcome === 'would-apply'));

  const failing = (): Promise<CommandResult> => Promise.resolve({ stdout: '', stderr: 'qmgr: Unauthorized Request\n', exitCode: 159 });
  await t.rejects(applyTorqueServerCommands(commands, { dryRun: false, runCommand: failing }), { code: 'qmgr-failed', kind: 'exec', message: /Unauthorized Request/ });
});

void t.test('Slurm: the exact slurm.conf lines', (t) => {
  t.same(buildSlurmConfLines({ ...config, batch: { ...config.batch, kind: 'slurm' } }, buildSlurmHookPaths('/usr/local/libexec/pbs-ve')), [
    '# pbs-ve: add to slurm.conf on every host (same file everywhere), then: scontrol reconfigure',
    'Prolog=/usr/local/libexec/pbs-ve/ve-prolog',
    'Epilog=/usr/local/libexec/pbs-ve/ve-epilog',
    '# the Prolog runs at allocation on every node of the job, before the batch script',
    'PrologFlags=Alloc',
    'HealthCheckProgram=/usr/local/libexec/pbs-ve/ve-health-check',
    'HealthCheckInterval=60',
    'HealthCheckNodeState=ANY',
    '# node Features: kvm (QEMU/KVM VEs) and lxc (containers) on VE nodes, vemon on the monitor node(s)',
    'NodeName=node1 Features=kvm,lxc ...',
    'NodeName=node2 Features=kvm,lxc ...',
    'NodeName=<vemon-node> Features=vemon ...',
    'PartitionName=ve Nodes=node1,node2 MaxTime=10082 AllowGroups=ALL State=UP',
    'PartitionName=vemon Nodes=<vemon-node> MaxTime=10 AllowGroups=root State=UP',
  ]);
  t.end();
});

void t.test('install slurm-hooks: refuses an installDir without the built entry points, before writing anything', async (t) => {
  const hookDir = makeTempDir(join(tmpdir(), 'pbsve-hooks-'));
  const empty = makeTempDir(join(tmpdir(), 'pbsve-nobuild-'));
  const options = { hookDir, dryRun: true, nodePath: process.execPath, configDir: '/etc/pbs-ve', prologQueues: ['batch'], epilogQueues: ['batch'] };
  await t.rejects(installSlurmHooks({ ...options, installDir: empty }), { code: 'install-incomplete', field: 'installDir', message: /dist\/src\/prologue\/main\.js is missing/ });
  t.same(readdirSync(hookDir), [], 'nothing written');
  const built = makeTempDir(join(tmpdir(), 'pbsve-built-'));
  for (const entry of ['prologue', 'epilogue', 'mom-hooks']) {
    mkdirSync(join(built, 'dist/src', entry), { recursive: true });
    writeFileSync(join(built, 'dist/src', entry, 'main.js'), '');
  }
  const report = await installSlurmHooks({ ...options, installDir: built });
  t.same(report.steps.map((s) => s.action), ['create', 'create', 'create'], 'a dry run over a built tree plans the three wrappers');
});
