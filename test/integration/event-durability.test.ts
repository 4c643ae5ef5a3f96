// Issue 5, part 2, for real: events are never lost. A stream of 200 user-visible VE state changes
// (virsh suspend/resume of real LXC VEs behind pbs-ve's back, each noticed by the real periodic hook
// ve-host-report) while, one after the other, a VE host's libvirtd, slapd and the vemon node's slurmd
// are SIGKILLed and restarted. Afterwards LDAP's history of every VE is exactly the changes made:
// in order, none twice, none missing, none invented.
import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR, VE_NODES, VEMON_NODE, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openEventJournal } from '../../src/events/event-journal.js';
import { hostJournalPath } from '../../src/events/flush-host-journal.js';
import { monitorSpoolDir, openEventSpool } from '../../src/ve-monitor/event-spool.js';
import { encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { readHostKey } from '../../src/events/host-key.js';
import { signEventLine } from '../../src/events/sign-event-line.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import { killSandboxLibvirtd, killSandboxSlapd, startSandboxLibvirtd, startSandboxSlapd } from '../harness/sandbox-daemons.js';
import { killSandboxSlurmd, startSandboxSlurmd } from '../harness/sandbox-nodes.js';
import { sleep, waitFor } from '../harness/wait-for.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { useSandbox } from '../harness/use-sandbox.js';

const { dir } = useSandbox(t, {
  // ports above the kernel's ephemeral ports and away from the other integration tests' slots
  prefix: '/tmp/pbsve-dur-',
  ready: (started) => {
    info = started;
    reader = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn });
  },
  beforeStop: async () => {
    await reader.close();
  },
});
const REPORT = join(PROJECT_DIR, 'dist/src/mom-hooks/report-main.js');
const CHANGES = 200;
const VE_COUNT = 4;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;
let info: SandboxInfo;
let reader: Inventory;

interface Ve { name: string; jobId: string; host: string; paused: boolean; expected: string[] }
interface Outage { what: 'libvirtd' | 'slapd' | 'slurmd'; afterChanges: number; downMs: number; killedAt?: number; restartedAt?: number }

async function virsh(ve: Ve, command: string): Promise<{ ok: boolean; message: string }> {
  const r = await runCommand('virsh', ['-c', info.nodes[ve.host]?.lxcUri ?? '', command, `pbsve-${ve.jobId}`], { timeoutMs: 30_000 });
  return { ok: r.exitCode === 0, message: r.stderr.trim() };
}

// The user-visible change: pause a running VE, resume a paused one. After a libvirtd restart libvirt
// thinks a frozen container runs ("domain is already running"): suspend + resume thaws it for real.
async function toggle(ve: Ve): Promise<boolean> {
  if (!ve.paused) return (await virsh(ve, 'suspend')).ok;
  const resumed = await virsh(ve, 'resume');
  if (resumed.ok) return true;
  if (!/already running/.test(resumed.message)) return false;
  return (await virsh(ve, 'suspend')).ok && (await virsh(ve, 'resume')).ok;
}

// What the batch system's periodic hook does on a VE host: report changes, send the journal.
async function runHostHook(node: string): Promise<{ exitCode: number; output: string }> {
  const r = await runCommand(process.execPath, [REPORT, '--host', node], { env: { ...info.env, PBS_VE_CONFIG_DIR: info.hosts[node]?.configDir ?? '' }, timeoutMs: 120_000 });
  return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}` };
}

async function squeueVemon(): Promise<string> {
  return (await runCommand('squeue', ['-h', '-p', 'vemon', '-o', '%i %T %r'], { env: info.env })).stdout.trim();
}

function spooledFiles(): string[] {
  const spool = monitorSpoolDir(info.hosts[VEMON_NODE]?.stateDir ?? '');
  return existsSync(spool) ? readdirSync(spool).filter((f) => f.endsWith('.events')) : [];
}

// LDAP's own record of when each history entry was written (second resolution), next to the event's time.
async function readHistoryTimes(): Promise<{ jobId: string; seq: number; at: number; written: number }[]> {
  const r = await runCommand('ldapsearch', ['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', info.ldapUrl, '-b', info.baseDn, '(objectClass=pbsveStateChange)', 'pbsveJobId', 'pbsveSeq', 'pbsveAt', 'createTimestamp'], { timeoutMs: 60_000 });
  const time = (g: string): number => Date.UTC(+g.slice(0, 4), +g.slice(4, 6) - 1, +g.slice(6, 8), +g.slice(8, 10), +g.slice(10, 12), +g.slice(12, 14), Number(`0${g.slice(14).replace(/Z$/, '')}`) * 1000);
  return r.stdout.split('\n\n').map((entry) => {
    const get = (a: string): string => new RegExp(`^${a}: (.*)$`, 'm').exec(entry)?.[1] ?? '';
    return { jobId: get('pbsveJobId'), seq: Number(get('pbsveSeq')), at: time(get('pbsveAt')), written: time(get('createTimestamp')) };
  }).filter((h) => h.jobId !== '');
}

void t.test(`${CHANGES} VE state changes while libvirtd, slapd and the vemon slurmd are killed: LDAP holds every change, in order, none twice`, async (t) => {
  // every VE host keeps its own journal (its own state directory)
  const journalFiles = VE_NODES.map((node) => hostJournalPath(loadConfig(info.hosts[node]?.configDir ?? '')));
  // vemon jobs wait only 4 s for LDAP here, so the 20 s slapd outage also makes some give up (exit 75)
  // and leave their events in the spool, for a later vemon job or reconcile to apply
  const vemonConfigFile = join(info.vemonConfigDir, 'config.json');
  const vemonConfig = JSON.parse(readFileSync(vemonConfigFile, 'utf8')) as { ldap: Record<string, unknown> };
  writeFileSync(vemonConfigFile, `${JSON.stringify({ ...vemonConfig, ldap: { ...vemonConfig.ldap, applyWaitSeconds: 4 } }, null, 2)}\n`);
  const journals = journalFiles.map((f) => openEventJournal(f));
  const sentJobs = (): string[] => journalFiles.flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('S ')).map((l) => l.split(' ')[2] ?? '') : []));

  // a few real running VEs, as users make them
  const ves: Ve[] = [];
  for (let i = 1; i <= VE_COUNT; i++) {
    const created = await runVeAs(info, user, ['create', `dur${i}`, '--type', 'lxc', '--image', 'tiny', '--vcpus', '1', '--memory', '64', '--lease', '2h']);
    t.equal(created.exitCode, 0, created.stderr);
    ves.push({ name: `dur${i}`, jobId: created.stdout.trim(), host: '', paused: false, expected: ['running'] });
  }
  for (const ve of ves) await waitForLdapState(info, user, ve.name, 'running', 180_000);
  const listed = JSON.parse((await runVeAs(info, user, ['list', '--json'])).stdout) as { jobId: string; host: string }[];
  for (const ve of ves) ve.host = listed.find((r) => r.jobId === ve.jobId)?.host ?? '';
  const hosts = [...new Set(ves.map((v) => v.host))].sort();
  t.comment(`VEs: ${ves.map((v) => `${v.name}=job ${v.jobId} on ${v.host}`).join(', ')}`);
  const victim = ves[0]?.host ?? 'node1';
  const vemonJobsBefore = new Set(sentJobs());

  const outages: Outage[] = [
    { what: 'libvirtd', afterChanges: 50, downMs: 6000 },
    { what: 'slapd', afterChanges: 100, downMs: 20_000 },
    // past SlurmdTimeout (10 s): slurmctld declares mon1 down while vemon jobs are queued or running
    { what: 'slurmd', afterChanges: 150, downMs: 20_000 },
  ];
  const hookFailures: string[] = [];
  const kill = async (o: Outage): Promise<void> => {
    if (o.what === 'libvirtd') await killSandboxLibvirtd(dir, victim);
    else if (o.what === 'slapd') await killSandboxSlapd(dir);
    else await killSandboxSlurmd(dir, 'mon1');
    o.killedAt = Date.now();
    t.comment(`${new Date().toISOString()} killed ${o.what}${o.what === 'libvirtd' ? ` of ${victim}` : ''}; vemon queue: ${(await squeueVemon()).replace(/\n/g, ' | ') || 'empty'}`);
  };
  const restart = async (o: Outage): Promise<void> => {
    if (o.what === 'libvirtd') await startSandboxLibvirtd(dir, victim);
    else if (o.what === 'slapd') await startSandboxSlapd(dir, info.ldapUrl);
    else await startSandboxSlurmd(dir, 'mon1');
    o.restartedAt = Date.now();
    // the periodic hook may well run before anyone touches a VE: libvirt then guesses "running" for
    // every container it reconnected to, also the frozen ones; nothing of that may reach LDAP
    if (o.what === 'libvirtd') {
      const r = await runHostHook(victim);
      if (r.exitCode !== 0) hookFailures.push(`${victim}: exit ${r.exitCode}: ${r.output.slice(-300)}`);
      t.comment(`hook right after the libvirtd restart: ${r.output.trim().replace(/\n/g, ' | ').slice(0, 600)}`);
    }
    t.comment(`${new Date().toISOString()} restarted ${o.what} after ${o.restartedAt - (o.killedAt ?? 0)} ms; vemon queue: ${(await squeueVemon()).replace(/\n/g, ' | ') || 'empty'}`);
  };

  let made = 0;
  let failedToggles = 0;
  let hookRuns = 0;
  const started = Date.now();
  while (made < CHANGES) {
    for (const o of outages) {
      if (o.killedAt === undefined && made >= o.afterChanges && outages.every((p) => p.killedAt === undefined || p.restartedAt !== undefined)) await kill(o);
      if (o.killedAt !== undefined && o.restartedAt === undefined && Date.now() - o.killedAt >= o.downMs) await restart(o);
    }
    const touched = new Set<string>();
    for (const ve of ves) {
      if (made >= CHANGES) break;
      // a change the driver could not make (libvirtd down) is simply not a change: tried again next round
      if (!(await toggle(ve))) {
        failedToggles++;
        continue;
      }
      ve.paused = !ve.paused;
      ve.expected.push(ve.paused ? 'suspended' : 'running');
      made++;
      touched.add(ve.host);
    }
    // every host's hook runs (as its periodic timer would), also one whose libvirtd is down
    for (const host of hosts) {
      const r = await runHostHook(host);
      hookRuns++;
      if (r.exitCode !== 0) hookFailures.push(`${host}: exit ${r.exitCode}: ${r.output.slice(-300)}`);
    }
    if (touched.size === 0) await sleep(500);
  }
  for (const o of outages) if (o.killedAt !== undefined && o.restartedAt === undefined) await restart(o);
  t.comment(`${made} changes made in ${Date.now() - started} ms (${failedToggles} not possible while libvirtd was down), ${hookRuns} hook runs`);
  t.same(hookFailures, [], 'the periodic hook never failed, not even with libvirtd down');

  // final flush, then wait for the journal, the vemon queue and the monitor's spool to be empty
  const drainStart = Date.now();
  await waitFor('the journals to be sent', 300_000, async () => {
    for (const host of hosts) await runHostHook(host);
    return journals.every((j) => j.pending().length === 0) ? true : undefined;
  }, 2000);
  let reconciles = 0;
  await waitFor('the vemon queue and the spool to drain', 600_000, async () => {
    if ((await squeueVemon()) !== '') return undefined;
    if (spooledFiles().length === 0) return true;
    // no vemon job left to apply what an earlier one spooled: the cron reconcile on the vemon node does
    const r = await runCommand(process.execPath, [join(PROJECT_DIR, 'dist/src/ve-monitor/main.js'), 'reconcile'], { env: info.vemonEnv, timeoutMs: 120_000 });
    reconciles++;
    t.comment(`reconcile with ${spooledFiles().length} spooled file(s) left: exit ${r.exitCode}: ${r.stderr.split('\n').filter((l) => /spool/.test(l)).join(' | ')}`);
    return undefined;
  }, 1000);
  t.comment(`drained ${Date.now() - drainStart} ms after the last change`);

  for (const ve of ves) {
    // a DHCP address the guest got is recorded too ("running", reason addresses: ...): not a state change
    const all = await reader.listHistory(ve.jobId);
    const history = all.filter((h) => !h.reason.startsWith('addresses:'));
    if (all.length > history.length) t.comment(`${ve.name}: ${all.length - history.length} address record(s) beside the changes`);
    const states = history.map((h) => h.state);
    t.equal(states.length, ve.expected.length, `${ve.name}: ${ve.expected.length} changes, ${states.length} in LDAP`);
    t.same(states, ve.expected, `${ve.name}: LDAP history = the changes made, in order, none twice, none missing`);
    const seqs = history.map((h) => h.seq);
    t.ok(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? 0)), `${ve.name}: seqs strictly increasing`);
    t.equal((await reader.getVe(ve.jobId))?.state, ve.expected.at(-1), `${ve.name}: current state is the last change`);
  }
  t.equal(ves.reduce((n, v) => n + v.expected.length - 1, 0), CHANGES, `${CHANGES} changes in all`);
  const quarantine = join(monitorSpoolDir(info.hosts[VEMON_NODE]?.stateDir ?? ''), 'failed');
  t.same(existsSync(quarantine) ? readdirSync(quarantine) : [], [], 'no spooled file given up');

  // measurements: vemon jobs used and how long each outage held events back
  const vemonJobs = [...new Set(sentJobs())].filter((j) => !vemonJobsBefore.has(j));
  // vemon job output: each host's root-only monitor directory, never its log directory (issue 10, item 6)
  const outputs = Object.values(info.hosts).map((h) => join(h.stateDir, 'monitor')).filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d).filter((f) => /^vemon-\d+\.out$/.test(f)).map((f) => readFileSync(join(d, f), 'utf8')));
  const waited = outputs.filter((o) => /LDAP unavailable, retrying/.test(o)).length;
  const gaveUp = outputs.filter((o) => /left for the next vemon job/.test(o)).length;
  const rejected = outputs.flatMap((o) => [...o.matchAll(/rejected (\d+)/g)].map((m) => Number(m[1]))).reduce((a, b) => a + b, 0);
  t.equal(rejected, 0, 'no event rejected');
  const replays = outputs.flatMap((o) => [...o.matchAll(/duplicate (\d+)/g)].map((m) => Number(m[1]))).reduce((a, b) => a + b, 0);
  const fromSpool = outputs.flatMap((o) => [...o.matchAll(/spooled files applied (\d+)/g)].map((m) => Number(m[1]) - 1)).filter((n) => n > 0).reduce((a, b) => a + b, 0);
  t.comment(`vemon jobs: ${vemonJobs.length} for ${CHANGES} changes; ${waited} waited for LDAP, ${gaveUp} gave up and left their events spooled; ${fromSpool} spooled file(s) of other jobs applied by later jobs, ${reconciles} reconcile run(s); ${replays} event(s) applied twice and recognized as duplicates`);
  const times = (await readHistoryTimes()).filter((h) => ves.some((v) => v.jobId === h.jobId) && h.seq % 1_000_000 !== 16);
  const delay = (list: typeof times): string => {
    if (list.length === 0) return 'no events';
    const d = list.map((h) => h.written - h.at).sort((a, b) => a - b);
    return `${list.length} events, delay median ${d[Math.floor(d.length / 2)]} ms, max ${d.at(-1)} ms (LDAP times have 1 s resolution)`;
  };
  const inOutage = (h: (typeof times)[number], o: Outage): boolean => h.at >= (o.killedAt ?? 0) && h.at <= (o.restartedAt ?? 0) + 2000;
  t.comment(`outside outages: ${delay(times.filter((h) => !outages.some((o) => inOutage(h, o))))}`);
  for (const o of outages) t.comment(`${o.what} down ${(o.restartedAt ?? 0) - (o.killedAt ?? 0)} ms: ${delay(times.filter((h) => inOutage(h, o)))}`);
  // a container still frozen when the sandbox stops would not die on destroy: thaw them first
  for (const ve of ves.filter((v) => v.paused)) await toggle(ve);
});

void t.test('events a vemon job left spooled are applied by the next ve-monitor reconcile (cron), exactly once', async (t) => {
  const key = readHostKey(info.hosts['node1']?.configDir ?? '', 'node1');
  const event = (seq: number, state: VeEvent['state']): string => signEventLine(encodeVeEvent({
    version: 1, jobId: '990001', seq, state, at: new Date().toISOString(), host: 'node1', owner: 'root', name: 'spooled1',
    type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-990001', source: 'mom-hook', reason: 'left by a vemon job that gave up',
  }), 'node1', key);
  // what a vemon job that gave up on LDAP leaves behind (same writer as ve-monitor apply)
  openEventSpool(monitorSpoolDir(info.hosts[VEMON_NODE]?.stateDir ?? '')).add([event(1_000_016, 'running'), event(1_000_032, 'destroyed')], '9999');
  t.equal(spooledFiles().length, 1);
  const monitor = join(PROJECT_DIR, 'dist/src/ve-monitor/main.js');
  const r = await runCommand(process.execPath, [monitor, 'reconcile'], { env: info.vemonEnv, timeoutMs: 120_000 });
  t.match(r.stderr, /spooled events: 1 file\(s\) applied \(2 applied, 0 stale, 0 duplicate\), 0 left/, r.stderr);
  t.same(spooledFiles(), [], 'spool empty');
  t.same((await reader.listHistory('990001')).map((h) => h.state), ['running', 'destroyed']);
  // a second pass finds nothing to do
  const again = await runCommand(process.execPath, [monitor, 'reconcile'], { env: info.vemonEnv, timeoutMs: 120_000 });
  t.notMatch(again.stderr, /spooled events/);
  t.equal((await reader.listHistory('990001')).length, 2, 'none twice');
});
