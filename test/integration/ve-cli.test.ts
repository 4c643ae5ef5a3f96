// The user- and admin-facing commands against the real sandbox, as two ordinary users and admins (root and a
// member of config adminGroup): --help, arguments before services, list isolation, hosts (entries written by
// the host report, list/show, drain/resume), per-user limits, the reason a pending VE waits.
// backends: slurm torque
import t from 'tap';
import { readFileSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs } from '../../src/sandbox/run-demo.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import type { HostRow } from '../../src/qsub-wrappers/list-hosts.js';

const USER1 = 'pbsve-user1';
const USER2 = 'pbsve-user2';
const ADMIN = 'pbsve-admin';
const ADMIN_GROUP = 'pbsveadm';

interface Row { name: string; state: string; host: string; jobId: string; owner: string }

useSandbox(t, {
  prefix: '/tmp/pbsve-cli-', users: [USER1, USER2, ADMIN],
  ready: async (started) => {
    info = started;
    control = openBatchControl(started);
    await runCommand('groupadd', ['-f', ADMIN_GROUP], {});
    await runCommand('usermod', ['-a', '-G', ADMIN_GROUP, ADMIN], {});
    editSubmitConfig((c) => ({ ...c, adminGroup: ADMIN_GROUP }));
  },
  beforeStop: async () => {
    // nothing of this file may outlive it: its VE jobs, drains, queue limits
    for (const j of await control.listJobs()) if (j.queue === 'batch' && j.state !== 'completed') await control.batch.cancel(j.jobId);
    for (const n of ['node1', 'node2']) await control.batch.setNodeOnline(n).catch(() => undefined);
  },
});
let info: SandboxInfo;
let control: BatchControl;
const timings: string[] = [];

function editSubmitConfig(change: (config: Record<string, unknown>) => Record<string, unknown>): void {
  const file = join(info.configDir, 'config.json');
  writeFileSync(file, `${JSON.stringify(change(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), null, 2)}\n`, { mode: 0o644 });
}

async function ve(user: string, args: readonly string[], timeoutMs = 300_000): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runVeAs(info, user, args, timeoutMs);
}

async function listAs(user: string, extra: readonly string[] = []): Promise<Row[]> {
  const r = await ve(user, ['list', '--json', ...extra]);
  if (r.exitCode !== 0) throw new Error(`ve list as ${user}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Row[];
}

// the users' own jobs: hooks submit vemon event jobs (root/pbsve) at any time, a read as a user could only submit as that user
async function queueIds(): Promise<string> {
  return (await control.listJobs()).filter((j) => [USER1, USER2].includes(j.owner)).map((j) => j.jobId).sort().join(' ');
}

async function createWaiting(user: string, name: string): Promise<string> {
  const t0 = Date.now();
  const r = await ve(user, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h', '--wait', '4m']);
  if (r.exitCode !== 0) throw new Error(`ve create ${name} --wait as ${user}: exit ${r.exitCode}: ${r.stderr}`);
  timings.push(`create --wait ${name}: ${Date.now() - t0} ms`);
  return r.stdout.trim();
}

void t.test('--help and --version answer without a service; arguments are checked before any service is asked', async (t) => {
  for (const args of [['--help'], ['host', '--help'], ['--version']]) {
    const r = await ve(USER1, args);
    t.equal(r.exitCode, 0, `ve ${args.join(' ')}`);
  }
  // a submit host whose batch system and LDAP are both unreachable
  const broken = join(info.dir, 'broken-etc');
  mkdirSync(broken, { recursive: true });
  cpSync(join(info.configDir, 'config.json'), join(broken, 'config.json'));
  const config = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8')) as { batch: Record<string, unknown>; ldap: Record<string, unknown> };
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...config, batch: { ...config.batch, binDir: '/nonexistent/bin' }, ldap: { ...config.ldap, url: 'ldap://127.0.0.1:9' } }), { mode: 0o644 });
  const env = { ...info.env, PBS_VE_CONFIG_DIR: broken, HOME: join(info.dir, 'work') };
  const run = (args: string[]): Promise<{ exitCode: number; stderr: string }> => runCommand('runuser', ['-u', USER1, '--', process.execPath, join(process.cwd(), 'dist/src/qsub-wrappers/main.js'), ...args], { env, timeoutMs: 60_000 });
  const bad = await run(['create', 'web<1>', '--type', 'lxc', '--image', 'tiny']);
  t.equal(bad.exitCode, 2, 'the name rule, exit 2');
  t.match(bad.stderr, /name: must be 1-63 letters, digits or inner hyphens/);
  const good = await run(['create', 'ok1', '--type', 'lxc', '--image', 'tiny']);
  t.equal(good.exitCode, 3, 'good arguments meet the unreachable batch system: exit 3');
  t.match(good.stderr, /batch-unavailable/);
  const show = await run(['show', 'a;b']);
  t.equal(show.exitCode, 2, 'a VE reference that is no name or job id: exit 2 before LDAP');
});

void t.test('ve list shows the caller\'s VEs only; --all-users for admins; reads submit nothing', async (t) => {
  const a1 = await createWaiting(USER1, 'a1');
  const b1 = await createWaiting(USER2, 'b1');
  const before = await queueIds();
  t.same((await listAs(USER1)).map((r) => r.jobId), [a1], `${USER1} sees a1 only`);
  t.same((await listAs(USER2)).map((r) => r.jobId), [b1], `${USER2} sees b1 only`);
  const denied = await ve(USER1, ['list', '--all-users']);
  t.equal(denied.exitCode, 2);
  t.match(denied.stderr, new RegExp(`permission-denied: --all-users: only root and members of group "${ADMIN_GROUP}"`));
  t.equal((await ve(USER1, ['list', '--owner', USER2])).exitCode, 2, 'another owner: admins only');
  for (const admin of ['root', ADMIN]) {
    const all = await listAs(admin, ['--all-users']);
    t.ok([a1, b1].every((id) => all.some((r) => r.jobId === id)), `${admin} --all-users sees both`);
    t.same((await listAs(admin, ['--owner', USER2])).map((r) => r.jobId), [b1], `${admin} --owner ${USER2}`);
  }
  t.equal((await ve(USER1, ['show', 'b1'])).exitCode, 2, 'show refuses the other user\'s VE as before');
  await ve(USER1, ['show', 'a1', '--json']);
  await ve(USER1, ['host', 'list', '--json']);
  t.equal(await queueIds(), before, 'list, show and host list submitted no job');
});

void t.test('hosts: entries written by the host report; list/show merge the batch system\'s view with LDAP', async (t) => {
  const report = join(process.cwd(), 'dist/src/mom-hooks/report-main.js');
  for (const host of ['node1', 'node2']) {
    const r = await runCommand(process.execPath, [report, '--host', host, '--json'], { env: { ...info.env, PBS_VE_CONFIG_DIR: info.hosts[host]?.configDir ?? '' }, timeoutMs: 300_000 });
    t.equal(r.exitCode, 0, r.stderr);
    t.equal((JSON.parse(r.stdout) as { host: string }).host, host, 've-host-report --json');
  }
  const t0 = Date.now();
  const rows = await waitFor('both host entries in LDAP', 180_000, async () => {
    const r = await ve(USER1, ['host', 'list', '--json']);
    if (r.exitCode !== 0) throw new Error(`ve host list: ${r.stderr}`);
    const hosts = JSON.parse(r.stdout) as HostRow[];
    return hosts.filter((h) => h.inventory !== undefined).length >= 2 ? hosts : undefined;
  }, 1000);
  timings.push(`host report -> LDAP host entries: ${Date.now() - t0} ms`);
  t.same(rows.map((h) => h.name), ['node1', 'node2'], 'the VE hosts; mon1 runs no VEs');
  for (const h of rows) {
    t.equal(h.inventory?.state, 'up', `${h.name} up in LDAP`);
    t.match(h.inventory?.lastHeartbeat, /^\d{4}-/);
    t.ok(h.features.includes('lxc'));
    t.ok(h.cpus > 0);
  }
  t.equal(rows.reduce((n, h) => n + h.veCount, 0), 2, 'a1 and b1 are counted on their hosts');
  t.same(rows.flatMap((h) => h.ves.map((v) => v.name)), ['a1'], `${USER1} sees only the name of their own VE`);
  const a1Host = rows.find((h) => h.ves.some((v) => v.name === 'a1'))?.name ?? '';
  const shown = await ve(USER1, ['host', 'show', a1Host]);
  t.equal(shown.exitCode, 0, shown.stderr);
  t.match(shown.stdout, new RegExp(`host:\\s+${a1Host}`));
  t.match(shown.stdout, /cpus:\s+\d+ of \d+ used by VEs/);
  t.match(shown.stdout, /\n {2}a1 /);
  const adminView = JSON.parse((await ve('root', ['host', 'list', '--json'])).stdout) as HostRow[];
  t.same(adminView.flatMap((h) => h.ves.map((v) => v.name)).sort(), ['a1', 'b1'], 'an admin sees every name');
  t.equal((await ve(USER1, ['host', 'show', 'node9'])).exitCode, 2, 'an unknown host: exit 2');
});

void t.test('per-user limits: ve create says which limit; TORQUE enforces the count itself', async (t) => {
  editSubmitConfig((c) => ({ ...c, limits: { vesPerUser: 1 } }));
  t.teardown(() => { editSubmitConfig((c) => Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'limits'))); });
  const refused = await ve(USER1, ['create', 'a2', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(refused.exitCode, 2);
  t.match(refused.stderr, /user-limit-reached: limit: at most 1 VEs per user \(config limits\); you hold 1 and this VE needs 1 more; destroy one of your VEs first/);
  if (control.kind !== 'torque') {
    t.comment('Slurm without slurmdbd: no per-user limit is enforced by Slurm itself (a raw sbatch is not held to it)');
    return;
  }
  const install = await runCommand(process.execPath, [join(process.cwd(), 'dist/src/qsub-wrappers/main.js'), 'admin', 'install', 'server'], { env: info.env, timeoutMs: 120_000 });
  t.equal(install.exitCode, 0, install.stderr);
  t.match(install.stdout, /max_user_queuable = 1/);
  const qmgr = join(info.torque?.binDir ?? '/opt/torque/bin', 'qmgr');
  t.teardown(async () => {
    for (const a of ['max_user_queuable', 'max_user_run']) await runCommand(qmgr, ['-c', `unset queue batch ${a}`], { env: info.env });
  });
  // the batch system's own refusal, as a user submitting around ve would meet it
  const raw = await control.submitRaw({ user: USER1, name: 'raw', script: '#!/bin/sh\nsleep 5\n', cpus: 1, memoryMiB: 32, minutes: 2, output: join(info.dir, 'work', 'raw.out') }).then(() => 'accepted', (err: unknown) => String(err));
  t.match(raw, /Maximum number of jobs already in queue for user/, 'TORQUE refuses a second job of the user in the VE queue');
  t.comment(`TORQUE's refusal: ${raw.replace(/\s+/g, ' ').slice(0, 300)}`);
});

void t.test('drain/resume (admins) and the reason a pending VE waits', async (t) => {
  const denied = await ve(USER1, ['host', 'drain', 'node1']);
  t.equal(denied.exitCode, 2);
  t.match(denied.stderr, /permission-denied: ve host drain: only root and members of group/);
  const byGroup = await ve(ADMIN, ['host', 'drain', 'node2', '--reason', 'group admin try']);
  t.comment(`drain by a non-root member of adminGroup: exit ${byGroup.exitCode}: ${(byGroup.stderr || byGroup.stdout).trim().slice(0, 300)}`);
  // pbs-ve passes the batch system's answer on; it never says "drained" when the node is not (TORQUE's pbsnodes exits 0 on refusal)
  const node2Offline = (await control.listUnavailableNodes()).some((n) => n.startsWith('node2 '));
  t.ok(byGroup.exitCode !== 0 || node2Offline, 'a drain reported done is done');
  t.notMatch(byGroup.stderr, /permission-denied: ve host drain/, 'pbs-ve itself lets an adminGroup member ask');
  for (const host of ['node1', 'node2']) {
    const r = await ve('root', ['host', 'drain', host, '--reason', 'cli test', '--json']);
    t.equal(r.exitCode, 0, r.stderr);
    // the VEs running there are stopped first (op jobs get the veop CPU on Slurm, the host's odd slot on TORQUE)
    t.match((JSON.parse(r.stdout) as { note: string }).note, /^pbs-ve drain: cli test \(by root\)(; stopped: [0-9A-Za-z.,-]+)?$/);
  }
  const listed = JSON.parse((await ve(USER2, ['host', 'list', '--json'])).stdout) as HostRow[];
  for (const h of listed) {
    t.equal(h.state, 'offline', `${h.name} drained`);
    t.match(h.note, /pbs-ve drain: cli test/);
  }
  t.ok((await control.listUnavailableNodes()).some((n) => n.startsWith('node1')), 'the batch system says so too');
  // a VE created now waits, and says why
  const t0 = Date.now();
  const waited = await ve(USER2, ['create', 'p1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--wait', '20s']);
  t.equal(waited.exitCode, 1, 'the wait ends without the VE running');
  t.match(waited.stderr, /wait-timeout: job \S+: not running after 20 s, pending: .+; the job stays submitted/);
  timings.push(`create --wait 20s on a drained cluster: ${Date.now() - t0} ms`);
  const reason = await waitFor('a pending reason from the scheduler', 120_000, async () => {
    const d = JSON.parse((await ve(USER2, ['show', 'p1', '--json'])).stdout) as { ve: { state: string }; job?: { waitReason?: string } };
    return d.ve.state === 'pending' && d.job?.waitReason !== undefined && !/has not looked at it yet/.test(d.job.waitReason) ? d.job.waitReason : undefined;
  }, 2000);
  t.comment(`pending reason: ${reason}`);
  const shown = await ve(USER2, ['show', 'p1']);
  t.match(shown.stdout, /waiting:\s+\S/);
  for (const host of ['node1', 'node2']) {
    const r = await ve('root', ['host', 'resume', host]);
    t.equal(r.exitCode, 0, r.stderr);
  }
  const t1 = Date.now();
  await waitFor('p1 running after resume', 240_000, async () => ((await listAs(USER2)).some((r) => r.name === 'p1' && r.state === 'running') ? true : undefined), 1000);
  timings.push(`resume -> pending p1 running: ${Date.now() - t1} ms`);
  t.notOk((await control.listUnavailableNodes()).some((n) => /cli test/.test(n)), 'no drain of this test is left');
  for (const [user, name] of [[USER1, 'a1'], [USER2, 'b1'], [USER2, 'p1']] as const) {
    const t2 = Date.now();
    const r = await ve(user, ['destroy', name, '--wait', '3m', '--json']);
    t.equal(r.exitCode, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { cancelled: true, state: 'destroyed' });
    timings.push(`destroy --wait ${name}: ${Date.now() - t2} ms`);
  }
  const load = (await runCommand('uptime', [], {})).stdout.trim();
  for (const line of timings) t.comment(`${control.kind}: ${line}`);
  t.comment(load);
});
