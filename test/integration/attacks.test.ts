// Issue 10, for real: each attack that once broke the sandbox, tried again as an ordinary user (pbsve-user1,
// pbsve-user2) or as root on one compute host holding only that host's key; each must now hold.
// backends: slurm torque (what differs goes through test/harness/batch-control.ts: a TORQUE owner cannot
// set a job comment, so the forged spec rides in Variable_List there). Each simulated host has its own
// config and state directory.
import t from 'tap';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { readHostKey } from '../../src/events/host-key.js';
import { signEventLine } from '../../src/events/sign-event-line.js';
import { HOST_SEQ_STEP } from '../../src/events/next-event-seq.js';
import { buildVeJobScript } from '../../src/qsub-wrappers/create-ve.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { VeSpec } from '../../src/core/ve-spec.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { killSandboxLibvirtd, killSandboxSlapd, startSandboxLibvirtd, startSandboxSlapd } from '../harness/sandbox-daemons.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { runVeMonitor } from '../harness/run-ve-monitor.js';

const USER = 'pbsve-user1';
const OTHER = 'pbsve-user2';
const sandbox = useSandbox(t, {
  prefix: '/tmp/pbsve-attack-', users: [USER, OTHER],
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
    writer = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn, bindDn: info.writerDn, password: info.writerPassword });
  },
  beforeStop: async () => {
    await writer.close();
    for (const link of plantedTmp) rmSync(link, { force: true });
  },
});
const { dir } = sandbox;
let info: SandboxInfo;
let control: BatchControl;
let writer: Inventory;
/** a root-only file every symlink attack points at: it must never change */
const SECRET_TEXT = 'root only, never to be written by pbs-ve\n';

// as the vemon node's cron runs it (TORQUE: as pbsve, which owns the monitor's keys and spool)
async function monitor(args: string[], env: Readonly<Record<string, string>> = info.vemonEnv, input?: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runVeMonitor(info, args, { env, timeoutMs: 300_000, ...(input === undefined ? {} : { input }) });
}

async function asUser(user: string, command: string, args: string[], input?: string, env: Readonly<Record<string, string>> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand('runuser', ['-u', user, '--', command, ...args], { env: { ...info.env, HOME: join(dir, 'work'), ...env }, cwd: join(dir, 'work'), timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });
}

// ve console reads the log where it lies: the user runs it on the VE's host (each simulated host has its own state)
async function consoleOn(host: string, user: string, name: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return asUser(user, process.execPath, [join(process.cwd(), 'dist/src/qsub-wrappers/main.js'), 'console', name, '--lines', '20'], undefined, { PBS_VE_CONFIG_DIR: configOf(host) });
}

async function drainedNodes(): Promise<string> {
  return (await control.listUnavailableNodes()).join('; ');
}

// The number the next job gets (TORQUE N.server from 0, Slurm N from FIRST_JOB_ID 1): one before it does no harm.
async function findNextJobNumber(): Promise<number> {
  const listed = (await control.listJobs()).map((j) => Number(/^[0-9]+/.exec(j.jobId)?.[0] ?? -1));
  return Math.max(-1, ...listed) + 1;
}

async function createVe(user: string, name: string): Promise<{ jobId: string; host: string }> {
  const created = await runVeAs(info, user, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  if (created.exitCode !== 0) throw new Error(`ve create ${name}: ${created.stderr}`);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, name, 'running', 120_000);
  const ve = await writer.getVe(jobId);
  return { jobId, host: ve?.host ?? '' };
}

function readSeq(host: string, jobId: string): number {
  return Number(readFileSync(join(jobDirOf(host, jobId), 'seq'), 'utf8').trim());
}

function signAs(host: string, event: VeEvent): string {
  return signEventLine(encodeVeEvent(event), host, readHostKey(configOf(host), host));
}

async function buildEvent(jobId: string, patch: Partial<VeEvent>): Promise<VeEvent> {
  const ve = await writer.getVe(jobId);
  if (ve === undefined) throw new Error(`no LDAP entry for ${jobId}`);
  return {
    version: 1, jobId, seq: ve.seq + HOST_SEQ_STEP, state: ve.state, at: new Date().toISOString(), host: ve.host, owner: ve.owner, name: ve.name,
    type: ve.type, image: ve.image, vcpus: ve.vcpus, memoryMiB: ve.memoryMiB, domain: ve.domain, source: 'epilogue', reason: 'forged', ...patch,
  };
}

const otherHost = (host: string): string => (host === 'node1' ? 'node2' : 'node1');
const stateOf = (host: string): string => info.hosts[host]?.stateDir ?? '';
const configOf = (host: string): string => info.hosts[host]?.configDir ?? '';
const jobDirOf = (host: string, jobId: string): string => join(stateOf(host), 'jobs', jobId);
const ALL_HOSTS = (): string[] => Object.keys(info.hosts);

// Item 6, set up first so that every later vemon job and log write of this file meets the links.
const planted: string[] = [];
const plantedTmp: string[] = [];
void t.test('item 6 (setup): a user plants links at the next vemon output names and at the log names', async (t) => {
  writeFileSync(join(dir, 'secret'), SECRET_TEXT, { mode: 0o600 });
  const first = await findNextJobNumber();
  const numbers = Array.from({ length: 120 }, (_, i) => first + i);
  const names = [...(control.kind === 'slurm' ? numbers.map((n) => `vemon-${n}.out`) : []), 've-monitor-rejected.log', 'pbs-ve.log'];
  if (control.kind === 'torque') {
    // where TORQUE's vemon job output used to go (the submit directory of the compute host): any user can take the names
    for (const n of numbers) {
      const link = `/tmp/pbsve-events.o${n}`;
      const r = await asUser(USER, 'ln', ['-s', join(dir, 'secret'), link]);
      if (r.exitCode === 0) plantedTmp.push(link);
    }
    t.comment(`${plantedTmp.length} links planted at /tmp/pbsve-events.o<N>`);
  }
  for (const host of ALL_HOSTS()) {
    for (const name of names) {
      const link = join(stateOf(host), 'log', name);
      const r = await asUser(USER, 'ln', ['-s', join(dir, 'secret'), link]);
      if (r.exitCode === 0) planted.push(link);
    }
  }
  t.comment(`${planted.length} links planted in the hosts' log directories (0 where a host's log directory is closed to users)`);
  // where the vemon output goes now, a user cannot create names at all
  for (const host of ALL_HOSTS()) {
    mkdirSync(join(stateOf(host), 'monitor'), { recursive: true, mode: 0o700 });
    const blocked = await asUser(USER, 'ln', ['-s', join(dir, 'secret'), join(stateOf(host), 'monitor', `vemon-${first}.out`)]);
    t.not(blocked.exitCode, 0, `${host}: its monitor directory is closed to users`);
  }
});

void t.test('item 1: a sleep job with a forged pbs-ve comment does not become a VE in LDAP', async (t) => {
  const ghost: VeSpec = { version: 1, name: 'ghost', type: 'kvm', image: 'tinyvm', vcpus: 4096, memoryMiB: 1_048_576, leaseSeconds: 3600 };
  const token = encodeVeSpec(ghost);
  // Slurm: the job comment; TORQUE (an owner cannot set a comment there): the job's Variable_List
  const forged = control.kind === 'slurm' ? { comment: `pbs-ve:${token}` } : { variables: { VE_SPEC: token } };
  const sleeper = { user: USER, name: 've-ghost', script: '#!/bin/sh\nsleep 600\n', cpus: 1, memoryMiB: 64, minutes: 10, feature: 'lxc' };
  const ids = [
    await control.submitRaw({ ...sleeper, output: join(dir, 'work/ghost1.out'), ...forged }),
    await control.submitRaw({ ...sleeper, output: join(dir, 'work/ghost2.out') }),
  ];
  t.teardown(async () => { for (const id of ids) await control.batch.cancel(id); });
  for (const id of ids) await waitFor(`job ${id} running`, 60_000, async () => ((await control.batch.getJob(id))?.state === 'running' ? true : undefined));
  // the second way in: the owner edits a running job (scontrol update comment= / qalter -v)
  await control.editAsOwner(USER, ids[1] ?? '', forged);
  const r = await monitor(['reconcile']);
  t.equal(r.exitCode, 0, r.stderr);
  for (const id of ids) {
    t.match(r.stdout, new RegExp(`found   job ${id} ghost: unknown-to-ldap`), `job ${id} listed, not written`);
    t.equal(await writer.getVe(id), undefined, `job ${id}: no VE in LDAP`);
  }
  // a job named ve-<name> is listed as a pending VE from the batch system, with what it really asked for;
  // nothing of the forged spec (a running kvm VE of 4096 CPUs and 1 TiB) reaches anyone
  const listed = JSON.parse((await runVeAs(info, OTHER, ['list', '--all', '--json'])).stdout) as { name: string; state: string; vcpus: number; memoryMiB: number; type: string }[];
  const ghosts = listed.filter((v) => v.name === 'ghost');
  t.comment(`another user's ve list --all: ${JSON.stringify(ghosts)}`);
  t.notOk(ghosts.some((v) => v.state !== 'pending' || v.vcpus !== 1 || v.memoryMiB > 64 || v.type === 'kvm'), 'another user sees no ghost VE: at most pending jobs with the sizes the batch system allocated');
});

void t.test('items 2 and 3: a host lying about another host\'s VE, and a seq of 2^53-1, change nothing; destroy --wait and reconcile still work', async (t) => {
  const { jobId, host } = await createVe(USER, 'victim');
  t.ok(host === 'node1' || host === 'node2', `placed on ${host}`);
  const before = await writer.getVe(jobId);
  // item 2: root on the other host signs a destroyed event for this job, with its own (real) key
  const lie = await buildEvent(jobId, { state: 'destroyed', host: otherHost(host), seq: readSeq(host, jobId) + HOST_SEQ_STEP, reason: 'job cancelled' });
  const r2 = await monitor(['apply', '--stdin'], info.vemonEnv, `${signAs(otherHost(host), lie)}\n`);
  t.equal(r2.exitCode, 2, 'refused');
  t.match(r2.stderr, new RegExp(`event-claim-mismatch: job ${jobId} runs on ${host}, the event claims destroyed on ${otherHost(host)}`));
  t.same(await writer.getVe(jobId), before, 'LDAP unchanged');
  // item 3: root on the VE's own host signs an event with seq 2^53-1
  const huge = await buildEvent(jobId, { seq: Number.MAX_SAFE_INTEGER, state: 'running', reason: 'forged seq' });
  const r3 = await monitor(['apply', '--stdin'], info.vemonEnv, `${signAs(host, huge)}\n`);
  t.equal(r3.exitCode, 2, 'refused');
  t.match(r3.stderr, /invalid-event: event seq: must be a whole number from 1 to \d+/);
  t.equal((await writer.getVe(jobId))?.seq, before?.seq, 'seq unchanged');
  // the real lifecycle goes on: the epilogue's event is neither a duplicate nor stale
  const destroyed = await runVeAs(info, USER, ['destroy', 'victim', '--wait', '2m'], 180_000);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.equal((await writer.getVe(jobId))?.state, 'destroyed');
  // a seq that reached LDAP before the fix: reconcile reports it and ends instead of spinning
  await writer.createVe({ jobId: '990001', name: 'wedged', owner: USER, type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running', host, domain: 'pbsve-990001', seq: Number.MAX_SAFE_INTEGER, lastChange: new Date().toISOString() });
  const rec = await monitor(['reconcile']);
  t.equal(rec.exitCode, 0, rec.stderr);
  t.match(rec.stdout, /found {3}job 990001 wedged: job-gone: running -> lost .*stored seq 9007199254740991 is out of range/);
});

// The sandbox's pbs_server (one TORQUE sandbox per machine: the one whose home is the sandbox's server home).
function findTorqueServerPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if ((argv[0] === 'pbs_server' || argv[0]?.endsWith('/pbs_server') === true) && argv.includes('/var/spool/pbs-ve-sandbox/torque/server')) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error('no pbs_server of the TORQUE sandbox');
}

// Slurm: a copy of the vemon configuration whose slurm.conf names a closed slurmctld port.
function buildDeadSlurmEnv(): Record<string, string> {
  const deadDir = join(dir, 'etc/pbs-ve-vemon-dead');
  cpSync(info.vemonConfigDir, deadDir, { recursive: true });
  const deadConf = join(dir, 'dead-slurm.conf');
  writeFileSync(deadConf, readFileSync(info.slurmConf, 'utf8').replace(/^SlurmctldPort=\d+$/m, `SlurmctldPort=${info.portBase + 7}`));
  const raw = JSON.parse(readFileSync(join(deadDir, 'config.json'), 'utf8')) as { batch: Record<string, unknown>; ldapWriteCredentialsFile: string };
  writeFileSync(join(deadDir, 'config.json'), JSON.stringify({ ...raw, batch: { ...raw.batch, slurmConf: deadConf }, ldapWriteCredentialsFile: join(deadDir, 'ldap-write.json') }));
  return { SLURM_CONF: deadConf, PBS_VE_CONFIG_DIR: deadDir };
}

void t.test('item 2: an event whose claim cannot be checked stays spooled, and a lie in it is refused once it can be', async (t) => {
  const { jobId, host } = await createVe(USER, 'spooled');
  // the vemon node's batch system does not answer (Slurm: a closed slurmctld port; TORQUE: see below)
  const deadEnv = control.kind === 'torque' ? info.vemonEnv : buildDeadSlurmEnv();
  const lie = await buildEvent(jobId, { state: 'destroyed', host: otherHost(host), seq: readSeq(host, jobId) + HOST_SEQ_STEP, reason: 'job cancelled' });
  const spoolDir = join(loadConfig(info.vemonConfigDir).stateDir, 'monitor/spool');
  const listSpool = (): string[] => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => f.endsWith('.events')) : []);
  const before = new Set(listSpool());
  // TORQUE's clients always ask the server_name file's server (pbs-ve passes no PBS_DEFAULT of the caller's):
  // there the server itself stops answering while the event is applied (SIGSTOP; qstat runs into its timeout)
  const server = control.kind === 'torque' ? findTorqueServerPid() : undefined;
  if (server !== undefined) process.kill(server, 'SIGSTOP');
  let r: { exitCode: number; stdout: string; stderr: string };
  try {
    r = await monitor(['apply', '--stdin', '--ldap-wait', '3s'], deadEnv, `${signAs(otherHost(host), lie)}\n`);
  } finally {
    if (server !== undefined) process.kill(server, 'SIGCONT');
  }
  t.equal(r.exitCode, 75, `left spooled (exit 75): ${r.stderr}`);
  t.match(r.stderr, /event-claims-uncheckable|the batch system did not list its jobs/);
  t.equal((await writer.getVe(jobId))?.state, 'running', 'not applied unchecked');
  const added = listSpool().filter((f) => !before.has(f));
  t.equal(added.length, 1, 'one file spooled');
  // reconcile (batch system answering) drains the spool: the claim is checked, the lie refused
  const rec = await monitor(['reconcile']);
  t.equal(rec.exitCode, 0, rec.stderr);
  t.match(rec.stderr, new RegExp(`rejected: event-claim-mismatch: job ${jobId} runs on ${host}, the event claims destroyed on ${otherHost(host)}`));
  t.equal((await writer.getVe(jobId))?.state, 'running', 'still running in LDAP');
  t.notOk(listSpool().includes(added[0] ?? ''), 'the file left the spool');
  const destroyed = await runVeAs(info, USER, ['destroy', 'spooled', '--wait', '2m'], 180_000);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
});

void t.test('item 7: a hand-made spec below the memory floor, or a catalog manifest pointing outside, drains no node; the owner is told why', async (t) => {
  const config = loadConfig(info.configDir);
  // the admin's mistake: a manifest whose path leads out of the catalog
  writeFileSync(join(config.imageDir, 'escape.json'), JSON.stringify({ name: 'escape', type: 'lxc', format: 'dir', path: '../../..', init: ['/bin/sh'] }));
  t.teardown(() => { writeFileSync(join(config.imageDir, 'escape.json'), '{}'); });
  const cases: [string, VeSpec, RegExp][] = [
    ['floor', { version: 1, name: 'tinymem', type: info.images.includes('tinyvm') ? 'kvm' : 'lxc', image: info.images.includes('tinyvm') ? 'tinyvm' : 'tiny', vcpus: 1, memoryMiB: 1, leaseSeconds: 600 }, /memory: must be from 16 to/],
    ['escape', { version: 1, name: 'escape', type: 'lxc', image: 'escape', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 }, /image escape \(catalog, an administrator's to fix\): path must be a path relative to the catalog/],
  ];
  if (info.images.includes('tinyvm')) {
    cases.push(['image-floor', { version: 1, name: 'smallvm', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 16, leaseSeconds: 600 }, /memory: image "tinyvm" needs at least \d+ MiB to boot/]);
  }
  for (const [label, spec, expected] of cases) {
    const out = join(dir, 'work', `${label}.out`);
    // as ve create writes it: the job body finds its host's configuration (hostConfigDir, %h in the sandbox)
    const script = buildVeJobScript(spec, config);
    const jobId = await control.submitRaw({ user: USER, name: `ve-${spec.name}`, script, cpus: 1, memoryMiB: 64, minutes: 10, feature: spec.type, output: out });
    await waitFor(`${label} job ${jobId} to end`, 120_000, async () => ((await control.isJobDone(jobId)) ? true : undefined));
    if (control.kind === 'slurm') {
      t.match(readFileSync(out, 'utf8'), new RegExp(`VE refused by the prologue: ${expected.source}`), `${label}: the owner reads why`);
    } else {
      // a TORQUE prologue exit 1 aborts the job before it runs (no output): the owner reads it in ve show
      const ve = await waitFor(`${label}: the refusal in LDAP`, 60_000, async () => ((await writer.getVe(jobId))?.state === 'failed' ? true : undefined));
      t.ok(ve, `${label}: failed in LDAP`);
      const history = await writer.listHistory(jobId);
      t.comment(`${label}: ${history.map((h) => `${h.state}: ${h.reason}`).join(' | ')}; entry: ${JSON.stringify(await writer.getVe(jobId))}`);
      t.match(history.map((h) => h.reason).join('\n'), expected, `${label}: the owner reads why`);
    }
    t.equal(await drainedNodes(), '', `${label}: no node drained or down`);
  }
});

void t.test('LDAP down: ve create still submits (nothing to write); the VE reaches LDAP once it is back', async (t) => {
  await killSandboxSlapd(dir);
  let restarted = false;
  t.teardown(async () => { if (!restarted) await startSandboxSlapd(dir, info.ldapUrl); });
  const created = await runVeAs(info, USER, ['create', 'offline1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  t.match(created.stderr, /inventory is unreachable .* checked against your batch jobs only/);
  const jobId = created.stdout.trim();
  t.match(jobId, control.jobIdPattern);
  // the name is still unique: the batch system knows the owner's live VE job
  const twice = await runVeAs(info, USER, ['create', 'offline1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(twice.exitCode, 2, 'a second VE of that name is refused');
  t.match(twice.stderr, /you already have a VE named "offline1"/);
  await startSandboxSlapd(dir, info.ldapUrl);
  restarted = true;
  // events waited in the host journal / monitor spool; reconcile drains the spool
  await waitFor('offline1 running in LDAP', 180_000, async () => {
    await monitor(['reconcile']);
    return (await runVeAs(info, USER, ['list', '--json'])).stdout.includes('"offline1"') ? true : undefined;
  }, 2000);
  const destroyed = await runVeAs(info, USER, ['destroy', 'offline1', '--wait', '2m'], 180_000);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
});

async function hostReport(host: string): Promise<string> {
  const r = await runCommand(process.execPath, [join(process.cwd(), 'dist/src/mom-hooks/report-main.js'), '--host', host], { env: { ...info.env, PBS_VE_CONFIG_DIR: configOf(host) }, timeoutMs: 300_000 });
  if (r.exitCode !== 0) throw new Error(`ve-host-report --host ${host}: ${r.stderr}`);
  return r.stdout;
}

function readRecordStatus(host: string, jobId: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(jobDirOf(host, jobId), 've.json'), 'utf8')) as { status?: string }).status;
  } catch {
    return undefined;
  }
}

async function listDomains(host: string): Promise<string> {
  const uris = info.nodes[host];
  const lxc = await runCommand('virsh', ['-c', uris?.lxcUri ?? '', 'list', '--name'], { timeoutMs: 30_000 });
  return lxc.stdout;
}

void t.test('item 4: another user reaches neither the catalog tree nor a VE\'s files; the owner still reads the console', async (t) => {
  const config = loadConfig(info.configDir);
  const { jobId, host } = await createVe(USER, 'private1');
  const jobDir = jobDirOf(host, jobId);
  const plantedTmp = join(config.imageDir, 'tiny.rootfs/tmp/planted-by-user2');
  const tries: [string, string[]][] = [
    ['plant a file in the catalog image', ['touch', plantedTmp]],
    ['list the job directory', ['ls', jobDir]],
    ['read the console log', ['cat', join(jobDir, 'console.log')]],
    ['reach the container rootfs', ['ls', join(jobDir, 'private/rootfs')]],
    ['plant a file in the running container', ['touch', join(jobDir, 'private/rootfs/tmp/planted-by-user2')]],
  ];
  for (const [what, [cmd, ...args]] of tries) {
    const r = await asUser(OTHER, cmd ?? 'false', args);
    t.not(r.exitCode, 0, `${OTHER} cannot ${what}: ${r.stderr.trim()}`);
  }
  t.notOk(existsSync(plantedTmp), 'nothing planted in the catalog');
  t.notOk(existsSync(join(jobDir, 'private/rootfs/tmp/planted-by-user2')), 'nothing planted in the container');
  t.notOk(existsSync(join(jobDir, 'rootfs')), 'no rootfs directly in the 0711 job directory');
  const own = await consoleOn(host, USER, 'private1');
  t.equal(own.exitCode, 0, `the owner reads the console: ${own.stderr}`);
  const foreign = await consoleOn(host, OTHER, 'private1');
  t.not(foreign.exitCode, 0, 'another user does not');
  if (info.images.includes('tinyvm')) {
    const vm = await runVeAs(info, USER, ['create', 'private2', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--disk', '16M', '--lease', '1h']);
    t.equal(vm.exitCode, 0, vm.stderr);
    const vmId = vm.stdout.trim();
    await waitForLdapState(info, USER, 'private2', 'running', 240_000);
    const vmHost = (await writer.getVe(vmId))?.host ?? '';
    for (const f of ['disk.qcow2', 'data-1.qcow2']) {
      t.equal(lstatSync(join(jobDirOf(vmHost, vmId), f)).mode & 0o777, 0o600, `${f} is 0600`);
      const r = await asUser(OTHER, 'head', ['-c', '16', join(jobDirOf(vmHost, vmId), f)]);
      t.not(r.exitCode, 0, `${OTHER} cannot read ${f}`);
    }
    t.equal((await runVeAs(info, USER, ['destroy', 'private2', '--wait', '3m'], 240_000)).exitCode, 0);
  }
  t.equal((await runVeAs(info, USER, ['destroy', 'private1', '--wait', '2m'], 180_000)).exitCode, 0);
});

void t.test('item 10: a destroyed VE\'s job directory stays for its owner, then goes; a live VE\'s stays', async (t) => {
  const gone = await createVe(USER, 'shortlived');
  const live = await createVe(USER, 'longlived');
  t.equal((await runVeAs(info, USER, ['destroy', 'shortlived', '--wait', '2m'], 180_000)).exitCode, 0);
  await hostReport(gone.host);
  t.ok(existsSync(join(jobDirOf(gone.host, gone.jobId), 'console.log')), 'kept within recovery.jobDirKeepSeconds (default 7 days)');
  const console1 = await consoleOn(gone.host, USER, 'shortlived');
  t.equal(console1.exitCode, 0, `the owner still reads the console of the destroyed VE: ${console1.stderr}`);
  // the admin shortens the keep time, as the sandbox's configuration would
  const file = join(configOf(gone.host), 'config.json');
  const saved = readFileSync(file, 'utf8');
  t.teardown(() => { writeFileSync(file, saved); });
  const raw = JSON.parse(saved) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...raw, recovery: { jobDirKeepSeconds: 1 } }));
  await waitFor('the destroyed VE\'s job directory to go', 60_000, async () => {
    await hostReport(gone.host);
    return existsSync(jobDirOf(gone.host, gone.jobId)) ? undefined : true;
  }, 1000);
  await hostReport(live.host);
  t.ok(existsSync(join(jobDirOf(live.host, live.jobId), 've.json')), 'a live VE keeps its directory');
  writeFileSync(file, saved);
  t.equal((await runVeAs(info, USER, ['destroy', 'longlived', '--wait', '2m'], 180_000)).exitCode, 0);
});

void t.test('item 9: libvirtd dead at the end of two leases: the domains are torn down once it answers, and only then destroyed in LDAP', async (t) => {
  const a = await createVe(USER, 'outage1');
  const b = await createVe(USER, 'outage2');
  const hosts = [...new Set([a.host, b.host])];
  for (const host of hosts) await killSandboxLibvirtd(dir, host);
  let revived = false;
  t.teardown(async () => {
    if (!revived) for (const host of hosts) await startSandboxLibvirtd(dir, host);
    // Slurm drains a node whose Epilog failed; TORQUE changes nothing for an epilogue's exit code
    const out = await control.listUnavailableNodes();
    for (const host of hosts) if (out.some((l) => l.startsWith(`${host} `))) await control.resumeNode(host);
  });
  // the leases end (the batch system kills the jobs, as qdel/scancel do): the epilogues meet no libvirtd
  for (const v of [a, b]) await control.batch.cancel(v.jobId);
  for (const v of [a, b]) await waitFor(`job ${v.jobId} gone`, 120_000, async () => ((await control.isJobDone(v.jobId)) ? true : undefined));
  for (const v of [a, b]) t.equal(readRecordStatus(v.host, v.jobId), 'stopping', `job ${v.jobId}: the epilogue could not finish`);
  for (const host of hosts) await startSandboxLibvirtd(dir, host);
  revived = true;
  for (const v of [a, b]) {
    t.match(await listDomains(v.host), new RegExp(`pbsve-${v.jobId}`), `pbsve-${v.jobId} still runs with no job (the leak)`);
    t.not((await writer.getVe(v.jobId))?.state, 'destroyed', 'not destroyed in LDAP while it runs');
  }
  for (const host of hosts) t.match(await hostReport(host), /interrupted teardown finished/);
  for (const v of [a, b]) {
    t.notMatch(await listDomains(v.host), new RegExp(`pbsve-${v.jobId}`), `pbsve-${v.jobId} torn down`);
    t.equal(readRecordStatus(v.host, v.jobId), 'destroyed');
    await waitFor(`${v.jobId} destroyed in LDAP`, 120_000, async () => ((await writer.getVe(v.jobId))?.state === 'destroyed' ? true : undefined), 1000);
  }
});

void t.test('item 6: no pbs-ve process wrote through a planted link; vemon output went where no user creates names', (t) => {
  t.equal(readFileSync(join(dir, 'secret'), 'utf8'), SECRET_TEXT, 'the root-only file is untouched');
  for (const link of [...planted, ...plantedTmp]) t.ok(lstatSync(link).isSymbolicLink(), `${link} is still only a link`);
  if (control.kind === 'slurm') {
    const outputs = ALL_HOSTS().map((h) => join(stateOf(h), 'monitor')).filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => /^vemon-\d+\.out$/.test(f)));
    t.ok(outputs.length > 0, `${outputs.length} vemon job outputs in the hosts' monitor directories`);
  } else {
    // TORQUE vemon jobs write to /dev/null (torque-events.test.ts checks their Output_Path)
    t.ok(plantedTmp.length > 0, `${plantedTmp.length} links at /tmp/pbsve-events.o<N>, none written through`);
  }
  t.end();
});
