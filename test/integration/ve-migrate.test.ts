// ve migrate for real, between two simulated hosts' own libvirtds: a cold-migrated LXC container keeps its
// files, snapshot and console log; a live-migrated QEMU (TCG) guest never restarts (its console heartbeat
// keeps counting on the new host); a host drained with --migrate ends empty. The VE's job is requeued to
// the destination on both batch systems; the LDAP entry stays the same and its history says so.
// backends: slurm torque
import t, { type Test } from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

useSandbox(t, {
  prefix: '/tmp/pbsve-mig-',
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
  },
});
let info: SandboxInfo;
let control: BatchControl;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

interface Shown { ve: { host: string; state: string; jobId: string }; history: { state: string; source: string; reason: string; host: string }[] }

async function show(name: string): Promise<Shown> {
  return JSON.parse((await runVeAs(info, user, ['show', name, '--json'])).stdout) as Shown;
}

function jobDirOn(host: string, jobId: string): string {
  return join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId);
}

async function domainState(host: string, type: 'lxc' | 'kvm', domain: string): Promise<string> {
  const uri = type === 'lxc' ? info.nodes[host]?.lxcUri ?? '' : info.nodes[host]?.qemuUri ?? '';
  const r = await runCommand('virsh', ['-c', uri, 'domstate', domain], { timeoutMs: 20_000 });
  return r.exitCode === 0 ? r.stdout.trim() : 'absent';
}

async function timedMigrate(t: Test, args: string[]): Promise<{ ms: number; stdout: string }> {
  const started = Date.now();
  const r = await runVeAs(info, user, ['migrate', ...args, '--wait', '5m'], 360_000);
  const ms = Date.now() - started;
  t.equal(r.exitCode, 0, `ve migrate ${args.join(' ')}: ${r.stderr}`);
  t.comment(`ve migrate ${args.join(' ')}: ${ms} ms (${control.kind}): ${r.stdout.trim()}`);
  return { ms, stdout: r.stdout };
}

void t.test('LXC, cold: the container moves with its files, snapshot and console log; same job, same LDAP entry', async (t) => {
  const created = await runVeAs(info, user, ['create', 'mig1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.teardown(async () => { await runVeAs(info, user, ['destroy', jobId, '--wait', '60s']); });
  await waitForLdapState(info, user, 'mig1', 'running', 120_000);
  const from = (await show('mig1')).ve.host;
  const domain = `pbsve-${jobId}`;
  // a file of the container's own, written where the container sees it as /root/moved.txt
  const marker = join(jobDirOn(from, jobId), 'private', 'rootfs', 'root', 'moved.txt');
  writeFileSync(marker, `written on ${from}\n`);
  const snap = await runVeAs(info, user, ['snapshot', 'mig1', '--name', 'before-move', '--wait', '3m'], 240_000);
  t.equal(snap.exitCode, 0, snap.stderr);
  const consoleBefore = readFileSync(join(jobDirOn(from, jobId), 'console.log'), 'utf8');
  t.ok(consoleBefore.length > 0, 'the console log has the first boot');

  const refused = await runVeAs(info, user, ['migrate', 'mig1', '--live']);
  t.equal(refused.exitCode, 2, 'a container cannot move live: refused');
  t.match(refused.stderr, /live: VE "mig1" is an LXC container/);
  const same = await runVeAs(info, user, ['migrate', 'mig1', '--to', from]);
  t.equal(same.exitCode, 2, 'to the host it is on: refused');

  const { stdout } = await timedMigrate(t, ['mig1']);
  const shown = await show('mig1');
  const to = shown.ve.host;
  t.not(to, from, `moved from ${from} to ${to}`);
  t.match(stdout, new RegExp(`running on ${to}`));
  t.equal(shown.ve.jobId, jobId, 'the same job, the same LDAP entry');
  t.equal(shown.ve.state, 'running');
  t.ok(shown.history.some((h) => h.state === 'migrating' && h.host === from), 'history: migrating on the source');
  t.ok(shown.history.some((h) => h.state === 'running' && h.host === to && /migrated cold from/.test(h.reason)), 'history: running on the destination, migrated cold');
  t.equal(await domainState(to, 'lxc', domain), 'running');
  await waitFor('the source host forgets the domain', 60_000, async () => ((await domainState(from, 'lxc', domain)) === 'absent' ? true : undefined), 500);
  const movedFile = join(jobDirOn(to, jobId), 'private', 'rootfs', 'root', 'moved.txt');
  t.equal(readFileSync(movedFile, 'utf8'), `written on ${from}\n`, 'the container\'s file moved');
  const record = JSON.parse(readFileSync(join(jobDirOn(to, jobId), 've.json'), 'utf8')) as { lxcIdMap: { target: number } };
  t.equal(statSync(join(jobDirOn(to, jobId), 'private', 'rootfs', 'root')).uid, record.lxcIdMap.target, 'its files belong to the container\'s root on the new host');
  t.ok(readFileSync(join(jobDirOn(to, jobId), 'console.log'), 'utf8').startsWith(consoleBefore.slice(0, 200)), 'the console log moved along');
  const listed = await runVeAs(info, user, ['snapshot', 'list', 'mig1', '--json']);
  t.match(listed.stdout, /before-move/, 'the snapshot moved along');
  t.notOk(existsSync(join(jobDirOn(from, jobId), 'private')), 'the source host keeps no copy of the rootfs');
  const rolled = await runVeAs(info, user, ['rollback', 'mig1', 'before-move', '--wait', '3m'], 240_000);
  t.equal(rolled.exitCode, 0, `rollback on the new host: ${rolled.stderr}`);
});

void t.test('QEMU, live: the guest moves running, its heartbeat never restarts', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, user, ['create', 'vm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.teardown(async () => { await runVeAs(info, user, ['destroy', jobId, '--wait', '60s']); });
  await waitForLdapState(info, user, 'vm1', 'running', 180_000);
  const from = (await show('vm1')).ve.host;
  const to = Object.keys(info.nodes).find((h) => h !== from) ?? '';
  const domain = `pbsve-${jobId}`;
  const beats = (host: string): number[] => {
    const log = join(jobDirOn(host, jobId), 'console.log');
    return existsSync(log) ? [...readFileSync(log, 'utf8').matchAll(/VE-HEARTBEAT (\d+)/g)].map((m) => Number(m[1])) : [];
  };
  await waitFor('two heartbeats on the source', 180_000, () => (beats(from).length >= 2 ? true : undefined), 500);

  const { ms } = await timedMigrate(t, ['vm1', '--live', '--to', to]);
  const lastOnSource = Math.max(...beats(from));
  const shown = await show('vm1');
  t.equal(shown.ve.host, to);
  t.equal(shown.ve.state, 'running');
  t.ok(shown.history.some((h) => h.state === 'running' && h.host === to && /migrated live from/.test(h.reason)), 'history: migrated live');
  t.equal(await domainState(to, 'kvm', domain), 'running');
  await waitFor('a heartbeat on the destination', 60_000, () => (beats(to).length >= 1 ? true : undefined), 500);
  const firstOnDest = Math.min(...beats(to));
  t.ok(firstOnDest > 1 && firstOnDest >= lastOnSource, `the heartbeat goes on counting (source ended at ${lastOnSource}, destination starts at ${firstOnDest})`);
  t.notMatch(readFileSync(join(jobDirOn(to, jobId), 'console.log'), 'utf8'), /init started/, 'the guest did not boot again');
  await waitFor('the source host forgets the domain', 120_000, async () => ((await domainState(from, 'kvm', domain)) === 'absent' ? true : undefined), 1000);
  t.comment(`live migration round trip ${ms} ms (${control.kind})`);
});

void t.test('ve host drain --migrate: the host ends empty, its VE runs elsewhere; resume', async (t) => {
  const created = await runVeAs(info, user, ['create', 'mig2', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.teardown(async () => { await runVeAs(info, user, ['destroy', jobId, '--wait', '60s']); });
  await waitForLdapState(info, user, 'mig2', 'running', 120_000);
  const host = (await show('mig2')).ve.host;
  t.teardown(async () => { await runVeAs(info, 'root', ['host', 'resume', host]); });
  const started = Date.now();
  const drained = await runVeAs(info, 'root', ['host', 'drain', host, '--migrate', '--reason', 'test maintenance', '--json'], 400_000);
  t.equal(drained.exitCode, 0, drained.stderr);
  const r = JSON.parse(drained.stdout) as { migrated: string[]; ves: unknown[] };
  t.ok(r.migrated.includes(jobId), 'the VE was moved away');
  t.same(r.ves, [], 'the drained host ends empty');
  t.comment(`ve host drain --migrate (1 VE): ${Date.now() - started} ms (${control.kind})`);
  const shown = await show('mig2');
  t.not(shown.ve.host, host);
  t.equal(shown.ve.state, 'running');
  const left = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 20_000 });
  await waitFor('no domain left on the drained host', 60_000, async () => {
    const now = await runCommand('virsh', ['-c', info.nodes[host]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 20_000 });
    return now.stdout.includes(`pbsve-${jobId}`) ? undefined : true;
  }, 500);
  t.ok(left.exitCode === 0);
  const resumed = await runVeAs(info, 'root', ['host', 'resume', host]);
  t.equal(resumed.exitCode, 0, resumed.stderr);
});
