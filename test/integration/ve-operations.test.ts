// Every VE operation a user expects, for real, through the one operation path: stop, start, restart, suspend,
// resume on an LXC container and a QEMU (TCG) guest (suspend to disk), the state table refusing what cannot
// run before any job is submitted, the VE keeping its job while stopped, and nothing left after destroy.
// backends: slurm torque
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findJobDir } from '../harness/sandbox-host-files.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

useSandbox(t, {
  prefix: '/tmp/pbsve-ops-', users: ['pbsve-user2'],
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
  },
});
let info: SandboxInfo;
let control: BatchControl;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

async function domainState(uri: string, domain: string): Promise<string> {
  return (await runCommand('virsh', ['-c', uri, 'domstate', domain], { timeoutMs: 20_000 })).stdout.trim();
}

async function jobRuns(jobId: string): Promise<boolean> {
  return (await control.listJobs()).some((j) => j.jobId === jobId && j.state === 'running');
}

async function countJobs(): Promise<number> {
  return (await control.listJobs()).length;
}

interface Shown { ve: { host: string; state: string }; history: { state: string; source: string; reason: string }[] }

async function show(name: string): Promise<Shown> {
  return JSON.parse((await runVeAs(info, user, ['show', name, '--json'])).stdout) as Shown;
}

// One operation, timed as the user sees it (op job on the VE's host, then the inventory showing the new state).
async function timed(t: Test, args: string[], expected: RegExp): Promise<number> {
  const started = Date.now();
  const r = await runVeAs(info, user, [...args, '--wait', '3m'], 240_000);
  const ms = Date.now() - started;
  t.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
  t.match(r.stdout, expected, args.join(' '));
  t.comment(`ve ${args.join(' ')}: ${ms} ms (${control.kind})`);
  return ms;
}

void t.test('LXC: suspend, resume, stop, start, restart; the job stays, the state table refuses before submitting', async (t) => {
  const created = await runVeAs(info, user, ['create', 'op1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  // a failed check must not leave the VE holding the host's cpu for the next subtests
  t.teardown(async () => { await runVeAs(info, user, ['destroy', jobId, '--wait', '60s']); });
  await waitForLdapState(info, user, 'op1', 'running', 120_000);
  const host = (await show('op1')).ve.host;
  const uri = info.nodes[host]?.lxcUri ?? '';
  const domain = `pbsve-${jobId}`;

  const before = await countJobs();
  const refused = await runVeAs(info, user, ['start', 'op1']);
  t.equal(refused.exitCode, 2, 'a wrong state is the caller\'s error');
  t.match(refused.stderr, /VE "op1" is running; start needs it stopped/);
  t.equal(await countJobs(), before, 'no job was submitted for it');

  await timed(t, ['suspend', 'op1'], /suspended/);
  t.equal(await domainState(uri, domain), 'paused');
  t.equal((await show('op1')).ve.state, 'suspended', 'listed as suspended, never stopped');
  await timed(t, ['resume', 'op1'], /now running/);
  t.equal(await domainState(uri, domain), 'running');

  await timed(t, ['stop', 'op1', '--timeout', '20s'], /now stopped/);
  t.equal(await domainState(uri, domain), 'shut off');
  t.ok(await jobRuns(jobId), 'the VE keeps its job (and lease) while stopped');
  // the host's periodic report agrees and says nothing new
  const report = join(process.cwd(), 'dist/src/mom-hooks/report-main.js');
  const hostEnv = { ...info.env, PBS_VE_CONFIG_DIR: info.hosts[host]?.configDir ?? '' };
  const quiet = await runCommand(process.execPath, [report, '--host', host], { env: hostEnv, timeoutMs: 60_000 });
  t.match(quiet.stdout, new RegExp(`^${host}: 0 change\\(s\\)`), 'a stopped VE is no change for the host report');
  t.ok(await jobRuns(jobId), 'still running after the host report and the host watcher looked');

  await timed(t, ['start', 'op1'], /now running/);
  t.equal(await domainState(uri, domain), 'running');
  const log = join(findJobDir(info, jobId), 'console.log');
  await timed(t, ['restart', 'op1', '--hard'], /destroyed and started again/);
  t.equal(await domainState(uri, domain), 'running');
  await waitFor('the host watcher\'s console copy after the restart', 60_000, () => (existsSync(log) && readFileSync(log, 'utf8').length > 0 ? true : undefined), 250);

  await timed(t, ['extend', 'op1', '--lease', '+30m'], /lease extended from 01:00:00 to 01:30:00/);
  const limit = (await control.listJobs()).find((j) => j.jobId === jobId)?.resources.walltimeSeconds;
  t.equal(limit, 5400, 'the batch system holds the longer lease');
  const tooLong = await runVeAs(info, user, ['extend', 'op1', '--lease', '+2d']);
  t.equal(tooLong.exitCode, 2, 'beyond the site\'s maximum is the caller\'s error');
  t.match(tooLong.stderr, /lease: .* is more than the site's maximum lease of 86400 s/);

  await waitFor('the last operation in the inventory', 60_000, async () => ((await show('op1')).history.filter((h) => h.source === 'operation').length >= 6 ? true : undefined), 500);
  const history = (await show('op1')).history.filter((h) => h.source === 'operation').map((h) => h.state);
  t.same(history, ['suspended', 'running', 'stopped', 'running', 'running', 'running'], 'LDAP history: one entry per operation');
  const destroyed = await runVeAs(info, user, ['destroy', 'op1', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  await waitForLdapState(info, user, 'op1', 'destroyed', 60_000);
  const left = (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
  t.notMatch(left, domain, 'no domain left');
});

void t.test('a stopped VE can be destroyed; another user cannot stop mine', async (t) => {
  const created = await runVeAs(info, user, ['create', 'op2', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'op2', 'running', 120_000);
  const other = await runVeAs(info, 'pbsve-user2', ['stop', 'op2', '--owner', DEMO_USER]);
  t.not(other.exitCode, 0, 'refused');
  t.match(other.stderr, /owner|not found|permission/);
  await timed(t, ['stop', 'op2', '--force'], /destroyed at once/);
  const destroyed = await runVeAs(info, user, ['destroy', 'op2', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  await waitForLdapState(info, user, 'op2', 'destroyed', 60_000);
  const host = Object.keys(info.nodes).find((h) => h === 'node1') ?? 'node1';
  for (const h of [host, 'node2']) {
    const left = (await runCommand('virsh', ['-c', info.nodes[h]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
    t.notMatch(left, `pbsve-${jobId}`, `no domain left on ${h}`);
  }
});

// The defect: `ve snapshot` on a host whose cpus were all taken by VEs waited 5 minutes and failed. The
// VE already holds its cpus, so an operation needs none: Slurm's op partition has a CPU the VE partition cannot
// take (MaxCPUsPerNode), TORQUE's hosts a slot VE jobs (2 slots a cpu) can never fill (docs/design.md, "Capacity").
void t.test('an operation runs on a host whose cpus are all taken by VEs', async (t) => {
  const names = ['full1', 'full2'];
  const jobIds: string[] = [];
  t.teardown(async () => { for (const jobId of jobIds) await runVeAs(info, user, ['destroy', jobId, '--wait', '60s']); });
  for (const name of names) {
    const created = await runVeAs(info, user, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--vcpus', '2', '--lease', '1h']);
    t.equal(created.exitCode, 0, created.stderr);
    jobIds.push(created.stdout.trim());
  }
  for (const name of names) await waitForLdapState(info, user, name, 'running', 120_000);
  const hosts = await Promise.all(names.map(async (n) => (await show(n)).ve.host));
  t.not(hosts[0], hosts[1], `one VE of 2 vcpus fills each host (${hosts.join(', ')})`);
  // no third VE fits anywhere: the hosts are full as far as VEs go
  const third = await runVeAs(info, user, ['create', 'full3', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--vcpus', '1', '--lease', '1h', '--wait', '15s']);
  t.equal(third.exitCode, 1, 'a third VE waits: no cpu is free for VEs');
  const thirdJob = /job (\S+):/.exec(third.stderr)?.[1] ?? third.stdout.trim().split('\n')[0] ?? '';
  if (thirdJob !== '') jobIds.push(thirdJob);
  const ms = await timed(t, ['suspend', 'full1'], /suspended/);
  t.comment(`suspend on a full host: ${ms} ms`);
  await timed(t, ['resume', 'full1'], /now running/);
  const snap = await timed(t, ['snapshot', 'full2', '--name', 's1'], /s1/);
  t.comment(`snapshot on a full host: ${snap} ms`);
  const list = await runVeAs(info, user, ['snapshot', 'list', 'full2', '--json']);
  t.equal(list.exitCode, 0, list.stderr);
  t.match(list.stdout, /s1/);
  t.equal((await show('full3')).ve.state, 'pending', 'the waiting VE still waits: the operations took no VE cpu');
});

void t.test('host maintenance: a drain stops the host\'s VEs, the resume starts them again (Clustrx stopall/startall)', async (t) => {
  const created = await runVeAs(info, user, ['create', 'op3', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'op3', 'running', 120_000);
  const host = (await show('op3')).ve.host;
  const uri = info.nodes[host]?.lxcUri ?? '';
  const started = Date.now();
  const drained = await runVeAs(info, 'root', ['host', 'drain', host, '--reason', 'test maintenance', '--timeout', '20s', '--json'], 300_000);
  t.equal(drained.exitCode, 0, drained.stderr);
  const r = JSON.parse(drained.stdout) as { stopped: string[]; note: string };
  t.ok(r.stopped.includes(jobId), 'the VE was stopped by the drain');
  t.match(r.note, new RegExp(`stopped: .*${jobId.replace('.', '\\.')}`), 'the node note names it for the resume');
  t.comment(`ve host drain (1 VE): ${Date.now() - started} ms (${control.kind})`);
  t.equal((await show('op3')).ve.state, 'stopped');
  t.equal(await domainState(uri, `pbsve-${jobId}`), 'shut off');
  t.ok((await control.listUnavailableNodes()).some((n) => n.startsWith(host)), 'the host takes no new VE');
  t.ok(await jobRuns(jobId), 'the VE keeps its job through the maintenance');
  const resumedAt = Date.now();
  const resumed = await runVeAs(info, 'root', ['host', 'resume', host], 300_000);
  t.equal(resumed.exitCode, 0, resumed.stderr);
  t.match(resumed.stdout, new RegExp(`started again: .*${jobId.replace('.', '\\.')}`));
  t.comment(`ve host resume (1 VE): ${Date.now() - resumedAt} ms (${control.kind})`);
  await waitForLdapState(info, user, 'op3', 'running', 60_000);
  t.equal(await domainState(uri, `pbsve-${jobId}`), 'running');
  t.notOk((await control.listUnavailableNodes()).some((n) => n.startsWith(host)), 'the host is back');
  const destroyed = await runVeAs(info, user, ['destroy', 'op3', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
});

void t.test('QEMU (TCG): ACPI stop and start, suspend to disk frees the memory, resume restores it', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, user, ['create', 'vm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'vm1', 'running', 180_000);
  const host = (await show('vm1')).ve.host;
  const uri = info.nodes[host]?.qemuUri ?? '';
  const domain = `pbsve-${jobId}`;
  const log = join(findJobDir(info, jobId), 'console.log');
  const markers = (): number => (readFileSync(log, 'utf8').match(/VE-MARKER: init started/g) ?? []).length;
  await waitFor('guest init', 120_000, () => (markers() >= 1 ? true : undefined), 250);
  // acpid must be up before the power button means anything
  await waitFor('guest acpid', 60_000, () => (readFileSync(log, 'utf8').includes('VE-MARKER: disk') || readFileSync(log, 'utf8').includes('VE-MARKER: ip') ? true : undefined), 250);

  await timed(t, ['suspend', 'vm1', '--to-disk'], /saved to disk/);
  t.equal(await domainState(uri, domain), 'shut off');
  const saved = await runCommand('virsh', ['-c', uri, 'dominfo', domain], { timeoutMs: 20_000 });
  t.match(saved.stdout, /Managed save:\s+yes/, 'the memory is in libvirt\'s managed save image');
  t.ok(await jobRuns(jobId), 'the job holds on');
  await timed(t, ['resume', 'vm1'], /resumed from its saved memory/);
  t.equal(await domainState(uri, domain), 'running');
  t.equal(markers(), 1, 'restored, not booted again: the guest\'s init ran once');

  await timed(t, ['stop', 'vm1', '--timeout', '60s'], /shut down by the guest|destroyed/);
  t.equal(await domainState(uri, domain), 'shut off');
  await timed(t, ['start', 'vm1'], /now running/);
  await waitFor('guest boots again (the console log goes on)', 120_000, () => (markers() >= 2 ? true : undefined), 250);
  await timed(t, ['restart', 'vm1'], /restarted \(shut down by the guest in [0-9]+ ms\) and started again/);
  await waitFor('guest boots a third time', 120_000, () => (markers() >= 3 ? true : undefined), 250);

  await timed(t, ['suspend', 'vm1', '--to-disk'], /saved to disk/);
  const destroyed = await runVeAs(info, user, ['destroy', 'vm1', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  await waitForLdapState(info, user, 'vm1', 'destroyed', 90_000);
  const left = (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
  t.notMatch(left, domain, 'a VE destroyed while saved to disk leaves no domain (nor its save image)');
});
