// The walking skeleton, for real: the batch system places the job, the prologue starts an LXC container
// through the node's own libvirtd, events travel as vemon jobs, ve-monitor writes LDAP, the epilogue cleans up.
// backends: slurm torque
import t from 'tap';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { runVeMonitor } from '../harness/run-ve-monitor.js';
import { findContainerInit } from '../harness/find-container-init.js';
import { findRootfsDir } from '../../src/host/ve-disks.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { killSandboxLibvirtd, startSandboxLibvirtd } from '../harness/sandbox-daemons.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';

interface Row { name: string; state: string; host: string; jobId: string; owner: string; type: string; vcpus: number; memoryMiB: number }

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-e2e-',
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
  },
});
let info: SandboxInfo;
let control: BatchControl;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

async function virshList(node: string): Promise<string> {
  const uri = info.nodes[node]?.lxcUri ?? '';
  return (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
}

// the queue as pbs-ve's Batch port sees it, one line per unfinished job: "id name state hosts queue"
async function queue(): Promise<string> {
  return (await control.listJobs()).filter((j) => j.state !== 'completed').map((j) => `${j.jobId} ${j.name} ${j.state} ${j.execHosts.join(',')} ${j.queue}\n`).join('');
}

// Slot files under <stateDir>/lxc-ids name the domain holding each id range.
function listIdRangeHolders(): string[] {
  return Object.values(info.hosts).flatMap((h) => {
    const ids = join(h.stateDir, 'lxc-ids');
    return existsSync(ids) ? readdirSync(ids).map((n) => readFileSync(join(ids, n), 'utf8').trim()) : [];
  });
}

async function rows(all = true): Promise<Row[]> {
  const r = await runVeAs(info, user, ['list', '--json', ...(all ? ['--all'] : [])]);
  if (r.exitCode !== 0) throw new Error(`ve list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Row[];
}

void t.test('bad input is refused with the field named, exit 2, nothing submitted', async (t) => {
  const before = await queue();
  const cases: [string[], RegExp][] = [
    [['web<1'], /name: /], [["we'b"], /name: /], [['a/b'], /name: /], [['a b'], /name: /], [['a'.repeat(64)], /name: /],
    [['ok1', '--image', 'nope'], /image: "nope" is not in the catalog/], [['ok1', '--image', '../tiny'], /image: /],
    [['ok1', '--vcpus', '0'], /vcpus: /], [['ok1', '--vcpus', '-1'], /vcpus: /], [['ok1', '--vcpus', 'two'], /vcpus: /],
    [['ok1', '--vcpus', '3'], /vcpus: must be a whole number from 1 to 2/], [['ok1', '--memory', 'lots'], /memory: /],
    [['ok1', '--lease', '0'], /lease: /], [['ok1', '--lease', '3d'], /lease: .*walltime limit/], [['ok1', '--type', 'xen'], /type: /],
  ];
  for (const [args, expected] of cases) {
    const [name, ...rest] = args;
    const opts = { '--type': 'lxc', '--image': 'tiny', '--vcpus': '1', '--memory': '64', '--lease': '1h' } as Record<string, string>;
    for (let i = 0; i < rest.length; i += 2) opts[rest[i] ?? ''] = rest[i + 1] ?? '';
    const r = await runVeAs(info, user, ['create', name ?? '', ...Object.entries(opts).flat()]);
    t.equal(r.exitCode, 2, `exit 2 for ${args.join(' ')}`);
    t.match(r.stderr, expected, `message for ${args.join(' ')}`);
  }
  t.equal(await queue(), before, 'no job was submitted');
});

void t.test('one VE lives and dies through the batch system, libvirt and LDAP', async (t) => {
  const t0 = Date.now();
  const created = await runVeAs(info, user, ['create', 'web1', '--type', 'lxc', '--image', 'tiny', '--vcpus', '1', '--memory', '256', '--lease', '2h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.match(jobId, control.jobIdPattern);
  const listed = (await rows(false)).find((r) => r.jobId === jobId);
  t.ok(listed !== undefined && ['pending', 'running'].includes(listed.state), 'listed at once (pending from the batch system, or running)');

  const msToRunning = await waitForLdapState(info, user, 'web1', 'running', 90_000);
  t.comment(`ve create -> LDAP running: ${Date.now() - t0} ms (poll ${msToRunning} ms)`);
  const ve = (await rows()).find((r) => r.jobId === jobId);
  t.ok(ve, 'in LDAP');
  t.equal(ve?.owner, user ?? 'root');
  t.equal(ve?.vcpus, 1);
  t.equal(ve?.memoryMiB, 256);
  const host = ve?.host ?? '';
  t.ok(['node1', 'node2'].includes(host), `placed on a VE node (${host})`);
  const other = host === 'node1' ? 'node2' : 'node1';
  t.match(await virshList(host), new RegExp(`^pbsve-${jobId}$`, 'm'), 'domain defined on the VE host');
  t.notMatch(await virshList(other), new RegExp(`pbsve-${jobId}`), 'and not on the other host');
  const running = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'domstate', `pbsve-${jobId}`], {});
  t.equal(running.stdout.trim(), 'running');
  t.match(await queue(), new RegExp(`^${jobId.replaceAll('.', '\\.')} ve-web1 running ${host} batch$`, 'm'), 'the job runs on that host');

  // the container's root is an unprivileged id of the host, its rootfs copy owned by that id
  const record = JSON.parse(readFileSync(join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId, 've.json'), 'utf8')) as VeJobRecord;
  const target = record.lxcIdMap?.target ?? 0;
  t.ok(target >= 65_536, `the record names the VE's id range (${target})`);
  const init = await waitFor('the container init', 20_000, () => findContainerInit(info.nodes[host]?.lxcUri ?? '', `pbsve-${jobId}`));
  t.match(readFileSync(`/proc/${init}/uid_map`, 'utf8'), new RegExp(`^\\s*0\\s+${target}\\s+65536\\s*$`), 'uid_map: 0 -> the range, not 0 0 4294967295');
  t.match(readFileSync(`/proc/${init}/gid_map`, 'utf8'), new RegExp(`^\\s*0\\s+${target}\\s+65536\\s*$`));
  t.equal(/^Uid:\s+([0-9]+)/m.exec(readFileSync(`/proc/${init}/status`, 'utf8'))?.[1], String(target), 'the init runs as that id on the host');
  const rootfs = findRootfsDir(join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId));
  t.equal(lstatSync(rootfs).uid, target, 'the rootfs copy is the mapped root\'s');
  t.equal(lstatSync(join(rootfs, 'bin', 'busybox')).uid, target);
  t.ok(listIdRangeHolders().includes(`pbsve-${jobId}`), 'the range is taken while the VE lives');

  const show = await runVeAs(info, user, ['show', 'web1', '--json']);
  t.equal(show.exitCode, 0, show.stderr);
  const details = JSON.parse(show.stdout) as { ve: Row; history: { state: string }[]; job?: { state: string } };
  t.same(details.history.map((h) => h.state), ['running']);
  t.equal(details.job?.state, 'running');

  const t1 = Date.now();
  const destroyed = await runVeAs(info, user, ['destroy', 'web1', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.match(destroyed.stdout, /VE destroyed/);
  t.comment(`ve destroy -> LDAP destroyed: ${Date.now() - t1} ms`);
  t.notMatch(await virshList(host), new RegExp(`pbsve-${jobId}`), 'domain destroyed and undefined');
  t.notOk(existsSync(findRootfsDir(join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId))), 'per-VE disk removed');
  t.notOk(existsSync(join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId, 'job-body.fifo')), 'the job body\'s FIFO removed');
  t.notOk(listIdRangeHolders().includes(`pbsve-${jobId}`), 'and its id range freed');
  await waitFor('job gone from the queue', 30_000, async () => ((await control.isJobDone(jobId)) ? true : undefined));
  const after = (await rows()).find((r) => r.jobId === jobId);
  t.equal(after?.state, 'destroyed', 'kept as history by ve list --all');
  t.notOk((await rows(false)).some((r) => r.jobId === jobId), 'not in the live list');
  const history = JSON.parse((await runVeAs(info, user, ['show', jobId, '--json'])).stdout) as { history: { state: string; oldState?: string }[] };
  t.same(history.history.map((h) => h.state), ['running', 'destroyed']);
});

void t.test('ve create --count 3 --wait: three VEs NAME-1..3 from one client, all running in LDAP and libvirt, then all destroyed', async (t) => {
  const before = await queue();
  const clash = await runVeAs(info, user, ['create', 'a'.repeat(61), '--count', '10', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(clash.exitCode, 2, 'a suffixed name too long: exit 2');
  t.match(clash.stderr, /name: with --count 10 the names run to/);
  const bad = await runVeAs(info, user, ['create', 'many', '--count', '0', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /count: must be a whole number from 1 to 1024/);
  t.equal(await queue(), before, 'nothing submitted for bad input');

  const t0 = Date.now();
  const created = await runVeAs(info, user, ['create', 'many', '--count', '3', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h', '--wait', '3m']);
  t.equal(created.exitCode, 0, created.stderr);
  t.comment(`ve create --count 3 --wait: ${Date.now() - t0} ms`);
  const lines = created.stdout.trim().split('\n').map((l) => l.split(' '));
  t.same(lines.map((l) => l[0]), ['many-1', 'many-2', 'many-3'], 'one "NAME JOBID" line a VE, in name order');
  const jobIds = lines.map((l) => l[1] ?? '');
  for (const id of jobIds) t.match(id, control.jobIdPattern);
  const live = (await rows(false)).filter((r) => jobIds.includes(r.jobId));
  t.same(live.map((r) => [r.name, r.state]).sort(), [['many-1', 'running'], ['many-2', 'running'], ['many-3', 'running']], 'all three running in LDAP when --wait returns');
  for (const r of live) {
    t.ok(['node1', 'node2'].includes(r.host), `${r.name} placed on a VE node (${r.host})`);
    const state = await runCommand('virsh', ['-c', info.nodes[r.host]?.lxcUri ?? '', 'domstate', `pbsve-${r.jobId}`], {});
    t.equal(state.stdout.trim(), 'running', `${r.name}: domain running on ${r.host}`);
  }
  const again = await runVeAs(info, user, ['create', 'many', '--count', '4', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(again.exitCode, 2, 'a clash on any of the names submits nothing');
  t.match(again.stderr, /name: you already have VEs named "many-1" .*"many-3"/);

  for (const r of live) {
    const d = await runVeAs(info, user, ['destroy', r.name, '--wait', '90s']);
    t.equal(d.exitCode, 0, d.stderr);
  }
  for (const r of live) t.notMatch(await virshList(r.host), new RegExp(`pbsve-${r.jobId}`), `${r.name}: domain gone`);
  await waitFor('the three jobs gone from the queue', 30_000, async () => ((await Promise.all(jobIds.map((id) => control.isJobDone(id)))).every(Boolean) ? true : undefined));
  t.notOk((await rows(false)).some((r) => jobIds.includes(r.jobId)), 'none left in the live list');
  t.same((await rows()).filter((r) => jobIds.includes(r.jobId)).map((r) => r.state), ['destroyed', 'destroyed', 'destroyed'], 'all three history');
  t.equal(await queue(), before, 'the queue as before');
});

void t.test('a VE whose job is still queued is listed as pending, and can be destroyed before it starts', async (t) => {
  // nothing can start while the VE queue is stopped: the job stays queued
  await control.stopVeQueue();
  t.teardown(() => control.startVeQueue());
  const created = await runVeAs(info, user, ['create', 'queued1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  const row = (await rows(false)).find((r) => r.jobId === jobId);
  t.equal(row?.state, 'pending');
  t.equal(row?.name, 'queued1');
  t.equal(row?.memoryMiB, 64);
  const dup = await runVeAs(info, user, ['create', 'queued1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(dup.exitCode, 2, 'a second VE of the same name is refused');
  t.match(dup.stderr, /name: you already have a VE named "queued1"/);
  const d = await runVeAs(info, user, ['destroy', 'queued1', '--wait', '30s']);
  t.equal(d.exitCode, 0, d.stderr);
  t.notOk((await rows()).some((r) => r.jobId === jobId), 'a VE that never ran leaves no LDAP entry');
});

void t.test('the end of the lease ends the VE: the batch system kills the job at its walltime, the epilogue tears down', async (t) => {
  const created = await runVeAs(info, user, ['create', 'lease1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1m']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'lease1', 'running', 90_000);
  const host = (await rows()).find((r) => r.jobId === jobId)?.host ?? '';
  const t0 = Date.now();
  await waitForLdapState(info, user, 'lease1', 'destroyed', 180_000);
  t.comment(`lease 60 s: destroyed ${Math.round((Date.now() - t0) / 1000)} s after running`);
  t.notMatch(await virshList(host), new RegExp(`pbsve-${jobId}`), 'domain gone');
});

void t.test('the periodic host report turns a state change nobody else saw into an event', async (t) => {
  const created = await runVeAs(info, user, ['create', 'pause1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'pause1', 'running', 90_000);
  const host = (await rows()).find((r) => r.jobId === jobId)?.host ?? '';
  const report = join(process.cwd(), 'dist/src/mom-hooks/report-main.js');
  const hostEnv = { ...info.env, PBS_VE_CONFIG_DIR: info.hosts[host]?.configDir ?? '' };
  const quiet = await runCommand(process.execPath, [report, '--host', host], { env: hostEnv });
  t.equal(quiet.exitCode, 0, quiet.stderr);
  t.match(quiet.stdout, new RegExp(`^${host}: 0 change\\(s\\)`), 'nothing to report while it runs');
  const paused = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'suspend', `pbsve-${jobId}`], {});
  t.equal(paused.exitCode, 0, paused.stderr);
  const r = await runCommand(process.execPath, [report, '--host', host], { env: hostEnv });
  t.match(r.stdout, /1 change\(s\)/);
  await waitForLdapState(info, user, 'pause1', 'suspended', 60_000);
  await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'resume', `pbsve-${jobId}`], {});
  await runCommand(process.execPath, [report, '--host', host], { env: hostEnv });
  await waitForLdapState(info, user, 'pause1', 'running', 60_000);
  const history = JSON.parse((await runVeAs(info, user, ['show', jobId, '--json'])).stdout) as { history: { state: string; source: string; reason: string }[] };
  // the same report also records the guest's DHCP address when it sees it (docs/design.md "Networks"): not a state change
  const changes = history.history.filter((h) => !h.reason.startsWith('addresses:'));
  t.same(changes.map((h) => `${h.source}:${h.state}`), ['prologue:running', 'mom-hook:suspended', 'mom-hook:running']);
  await runVeAs(info, user, ['destroy', 'pause1', '--wait', '60s']);
});

void t.test('a guest that powers off ends its job, and the epilogue records it', async (t) => {
  const created = await runVeAs(info, user, ['create', 'off1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'off1', 'running', 90_000);
  const host = (await rows()).find((r) => r.jobId === jobId)?.host ?? '';
  // the container's init ends (SIGTERM, as a poweroff inside it would): libvirt says "shut off (shutdown)";
  // a kill behind pbs-ve ("destroyed") is a crash instead, recovered by ve-host-report (ve-recovery.test.ts)
  const r = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'shutdown', '--mode', 'signal', `pbsve-${jobId}`], {});
  t.equal(r.exitCode, 0, r.stderr);
  await waitForLdapState(info, user, 'off1', 'destroyed', 60_000);
  const details = JSON.parse((await runVeAs(info, user, ['show', jobId, '--json'])).stdout) as { history: { state: string; reason: string }[] };
  t.match(details.history.at(-1)?.reason ?? '', /powered off|gone/);
  t.notMatch(await virshList(host), new RegExp(`pbsve-${jobId}`), 'undefined by the epilogue');
});

void t.test('a libvirtd restart under a running VE: its job keeps running and still ends when the guest powers off', async (t) => {
  const created = await runVeAs(info, user, ['create', 'lvd1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'lvd1', 'running', 90_000);
  const host = (await rows()).find((r) => r.jobId === jobId)?.host ?? '';
  const hostLog = join(info.hosts[host]?.stateDir ?? '', 'log', 'pbs-ve.log');
  const reconnects = (): number => (existsSync(hostLog) ? readFileSync(hostLog, 'utf8').split('\n').filter((l) => l.includes('ve-host-watch') && l.includes(': events again; looking at every VE')).length : 0);
  const before = reconnects();
  t.ok(await killSandboxLibvirtd(dir, host), `libvirtd of ${host} killed`);
  // the watcher's event streams end: not knowing is never "stopped"
  await waitFor('the watcher to notice libvirtd gone', 60_000, () => (existsSync(hostLog) && /ve-host-watch\[[0-9]+\] libvirt .*: no events/.test(readFileSync(hostLog, 'utf8')) ? true : undefined), 250);
  await startSandboxLibvirtd(dir, host);
  await waitFor('the watcher back on libvirt\'s events', 120_000, () => (reconnects() > before ? true : undefined), 250);
  t.notOk(await control.isJobDone(jobId), 'the job runs on after the restart and the watcher\'s look at every VE');
  t.equal((await rows()).find((r) => r.jobId === jobId)?.state, 'running');
  const r = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'shutdown', '--mode', 'signal', `pbsve-${jobId}`], {});
  t.equal(r.exitCode, 0, r.stderr);
  await waitForLdapState(info, user, 'lvd1', 'destroyed', 60_000);
  t.ok(await control.isJobDone(jobId), 'the poweroff after the restart ended the job');
});

void t.test('a job whose spec exceeds its allocation is refused by the prologue, nothing started', async (t) => {
  // hand-made job: asks for 2 vcpus in its spec line but only 1 cpu from the batch system
  const spec = { version: 1 as const, name: 'greedy', type: 'lxc' as const, image: 'tiny', vcpus: 2, memoryMiB: 64, leaseSeconds: 600 };
  const script = `#!/bin/sh\n# pbs-ve spec ${encodeVeSpec(spec)}\nPBS_VE_STATE_DIR=${join(dir, 'hosts/%h/state')} exec /bin/sh ${join(process.cwd(), 'scripts/job-body.sh')}\n`;
  const out = join(dir, 'work', 'greedy.out');
  const jobId = await control.submitRaw({ user: DEMO_USER, name: 've-greedy', script, cpus: 1, memoryMiB: 64, minutes: 10, feature: 'lxc', output: out });
  await waitFor('greedy job to end', 60_000, async () => ((await control.isJobDone(jobId)) ? true : undefined));
  t.notMatch((await virshList('node1')) + (await virshList('node2')), new RegExp(`pbsve-${jobId}`), 'no domain anywhere');
  const { readFileSync } = await import('node:fs');
  if (control.kind === 'slurm') {
    // a Slurm Prolog refusing a spec exits 0 and the job body tells the owner; a TORQUE prologue exit 1
    // aborts the job before it runs (no output to deliver): there the owner reads it in ve show (below)
    await waitFor('the job output', 30_000, () => (existsSync(out) ? true : undefined));
    t.match(readFileSync(out, 'utf8'), /VE refused by the prologue: .*vcpus 2 > 1 allocated/, 'the owner is told why');
  }
  t.same(await control.listUnavailableNodes(), [], 'no node drained by a bad spec');
  // issue 9, defect 8: the prologue made nothing, and still LDAP (so ve show) says the VE failed, and why
  const inventory = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn });
  t.teardown(() => inventory.close());
  const ve = await waitFor('the refusal in LDAP', 60_000, async () => ((await inventory.getVe(jobId))?.state === 'failed' ? inventory.getVe(jobId) : undefined));
  t.equal(ve?.name, 'greedy');
  t.match((await inventory.listHistory(jobId)).at(-1)?.reason, /vcpus 2 > 1 allocated/, 'the reason is in the history');
});

void t.test('a job that is not a VE job passes through prologue and epilogue untouched', async (t) => {
  const out = join(dir, 'work', 'plain.out');
  const jobId = await control.submitRaw({ user: DEMO_USER, name: 'plain', script: '#!/bin/sh\necho plain-job-ran\n', cpus: 1, memoryMiB: 64, minutes: 5, output: out });
  await waitFor('plain job to end', 60_000, async () => ((await control.isJobDone(jobId)) ? true : undefined));
  const { readFileSync } = await import('node:fs');
  await waitFor('the job output', 30_000, () => (existsSync(out) ? true : undefined));
  t.match(readFileSync(out, 'utf8'), /plain-job-ran/);
});

void t.test('reconcile marks LDAP-running VEs without a job lost and lists running VE jobs LDAP does not know without inventing them', async (t) => {
  const writer = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn, bindDn: info.writerDn, password: info.writerPassword });
  t.teardown(() => writer.close());
  // drift 1: LDAP thinks job 999999 runs a VE
  await writer.createVe({ jobId: '999999', name: 'ghost', owner: 'user1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running', host: 'node1', domain: 'pbsve-999999', seq: 1_000_001, lastChange: new Date().toISOString() });
  // drift 2: a running VE job whose LDAP entry is missing (the event job was lost)
  const created = await runVeAs(info, user, ['create', 'drift2', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'drift2', 'running', 90_000);
  await runCommand('ldapdelete', ['-x', '-H', info.ldapUrl, '-D', info.writerDn, '-w', info.writerPassword, '-r', `pbsveJobId=${jobId},ou=ves,${info.baseDn}`], {});
  t.notOk((await rows()).some((r) => r.jobId === jobId && r.state === 'running'), 'entry gone from LDAP');

  const monitor = join(process.cwd(), 'dist/src/ve-monitor/main.js');
  // only the vemon node's configuration can write LDAP
  const fromVeHost = await runCommand(process.execPath, [monitor, 'reconcile'], { env: info.env });
  t.not(fromVeHost.exitCode, 0, 'a VE host has no LDAP write credentials');
  t.match(fromVeHost.stderr, /no-ldap-write-credentials/);
  const dry = await runVeMonitor(info, ['reconcile', '--dry-run', '--json']);
  t.equal(dry.exitCode, 0, dry.stderr);
  const dryDrift = (JSON.parse(dry.stdout) as { drift: { jobId: string; changed: boolean }[] }).drift;
  t.ok(dryDrift.some((d) => d.jobId === '999999' && !d.changed), 'dry run reports, changes nothing');
  const r = await runVeMonitor(info, ['reconcile']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /changed job 999999 ghost: job-gone: running -> lost/);
  // the job's comment is the owner's to edit: only the host's signed events may make the entry (issue 10, item 1)
  t.match(r.stdout, new RegExp(`found   job ${jobId} drift2: unknown-to-ldap`));
  t.equal((await writer.getVe('999999'))?.state, 'lost');
  t.equal(await writer.getVe(jobId), undefined, 'not written from the job comment');
  const ghostHistory = await writer.listHistory('999999');
  t.equal(ghostHistory.at(-1)?.state, 'lost', 'history entry for the transition');
  const again = await runVeMonitor(info, ['reconcile']);
  t.match(again.stdout, /reconcile: 1 drift item\(s\), 0 changed/, 'a second pass changes nothing');
  await runVeAs(info, user, ['destroy', 'drift2', '--wait', '60s']);
  // the epilogue's signed event carries the whole VE: the entry comes back from its host, final
  await waitFor('drift2 destroyed in LDAP', 90_000, async () => ((await writer.getVe(jobId))?.state === 'destroyed' ? true : undefined));
});
