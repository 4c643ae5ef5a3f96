// Issue 5, part 1, for real: events are authenticated (vemon closed to users, HMAC per host, claims
// checked) and never lost (journalled while slurmctld is unreachable, sent later in few jobs).
import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { VEMON_NODE, type SandboxHost, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { loadConfig, parseConfig } from '../../src/config/load-config.js';
import { openBatch, openEventSink } from '../../src/config/open-adapters.js';
import { openEventJournal } from '../../src/events/event-journal.js';
import { encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { readHostKey } from '../../src/events/host-key.js';
import { signEventLine } from '../../src/events/sign-event-line.js';
import { flushHostJournal, hostJournalPath } from '../../src/events/flush-host-journal.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';

const sandbox = useSandbox(t, {
  prefix: '/tmp/pbsve-mon-',
  ready: (started) => {
    info = started;
    node1 = started.hosts['node1'] ?? { configDir: '', stateDir: '' };
    reader = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn });
  },
  beforeStop: async () => {
    await reader.close();
  },
});
const { dir } = sandbox;
const MONITOR = join(process.cwd(), 'dist/src/ve-monitor/main.js');
let info: SandboxInfo;
let node1: SandboxHost;
let reader: Inventory;

const base: VeEvent = {
  version: 1, jobId: '770001', seq: 1_000_001, state: 'running', at: '2026-05-01T10:00:00.000Z', host: 'node1', owner: 'pbsve-user1', name: 'auth1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-770001', source: 'prologue', reason: 'domain running',
};

function rejectedLog(): string {
  const file = join(info.hosts[VEMON_NODE]?.stateDir ?? '', 'monitor/ve-monitor-rejected.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

async function applyLines(lines: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand(process.execPath, [MONITOR, 'apply', '--stdin'], { env: info.vemonEnv, input: `${lines.join('\n')}\n`, timeoutMs: 60_000 });
}

void t.test('an ordinary user cannot submit to vemon, nor run ve-monitor apply', async (t) => {
  if (!existsSync(`/home/${DEMO_USER}`)) {
    t.comment(`skipped: no user ${DEMO_USER}`);
    return;
  }
  const line = signEventLine(encodeVeEvent({ ...base, jobId: '770002' }), 'node1', Buffer.alloc(32));
  const script = `#!/bin/sh\nPBS_VE_CONFIG_DIR=${info.vemonConfigDir} exec ${process.execPath} ${MONITOR} apply --stdin <<'E'\n${line}\nE\n`;
  const sb = await runCommand('runuser', ['-u', DEMO_USER, '--', 'sbatch', '--parsable', '-p', 'vemon', '-J', 'pbsve-events', '--time=5'], { env: info.env, input: script, cwd: join(dir, 'work') });
  t.not(sb.exitCode, 0, 'sbatch -p vemon refused');
  t.match(sb.stderr, /not permitted to use this partition|AllowGroups|invalid partition|Access denied/i, sb.stderr);
  const direct = await runCommand('runuser', ['-u', DEMO_USER, '--', process.execPath, MONITOR, 'apply', '--event', line], { env: info.env, cwd: join(dir, 'work') });
  t.not(direct.exitCode, 0, 'no LDAP write credentials, no key for a user');
  t.equal(await reader.getVe('770002'), undefined, 'LDAP unchanged');
});

void t.test('forged, unsigned and foreign-host event lines change nothing and are logged', async (t) => {
  const key1 = readHostKey(node1.configDir, 'node1');
  const payload = (jobId: string, host = 'node1'): string => encodeVeEvent({ ...base, jobId, domain: `pbsve-${jobId}`, host });
  const cases: [string, string, string][] = [
    ['770010', `${payload('770010')}.node1.${'ab'.repeat(32)}`, 'event-forged'],
    ['770011', payload('770011'), 'event-unsigned'],
    // node1's key, node2's name on the line: the HMAC does not match node2's key
    ['770012', signEventLine(payload('770012', 'node2'), 'node2', key1), 'event-forged'],
    // node1's key and name, but the event inside claims node2
    ['770013', signEventLine(payload('770013', 'node2'), 'node1', key1), 'event-host-mismatch'],
  ];
  for (const [jobId, line, code] of cases) {
    const before = rejectedLog().length;
    const r = await applyLines([line]);
    t.equal(r.exitCode, 2, `${code}: exit 2`);
    t.match(r.stdout, /applied 0, stale 0, duplicate 0, rejected 1/);
    t.match(r.stderr, new RegExp(`rejected .* ${code}:`));
    t.equal(await reader.getVe(jobId), undefined, `${code}: nothing in LDAP`);
    t.match(rejectedLog().slice(before), new RegExp(`line 1 ${code}: `), `${code}: logged in ve-monitor-rejected.log`);
  }
  // the control: the same path with a genuine line writes LDAP
  const good = await applyLines([signEventLine(payload('770014'), 'node1', key1)]);
  t.equal(good.exitCode, 0, good.stderr);
  t.equal((await reader.getVe('770014'))?.state, 'running', 'a genuine line is applied');
});

void t.test('a signed event the batch system contradicts is refused', async (t) => {
  const sb = await runCommand('sbatch', ['--parsable', '-p', 'batch', '-w', 'node1', '-J', 'plain', '--time=5', `--output=${join(dir, 'work/claim.out')}`], { env: info.env, input: '#!/bin/sh\nsleep 60\n' });
  t.equal(sb.exitCode, 0, sb.stderr);
  const jobId = sb.stdout.trim().split(';')[0] ?? '';
  t.teardown(() => runCommand('scancel', [jobId], { env: info.env }).then(() => undefined));
  await waitFor('job running', 30_000, async () => ((await runCommand('squeue', ['-h', '-j', jobId, '-o', '%T'], { env: info.env })).stdout.trim() === 'RUNNING' ? true : undefined));
  // node2 is a real host with a real key, but the job runs on node1
  const lie = { ...base, jobId, domain: `pbsve-${jobId}`, host: 'node2', owner: 'root' };
  const r = await applyLines([signEventLine(encodeVeEvent(lie), 'node2', readHostKey(info.hosts['node2']?.configDir ?? '', 'node2'))]);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /event-claim-mismatch: job \d+ runs on node1, the event claims running on node2/);
  t.equal(await reader.getVe(jobId), undefined);
});

void t.test('300 events with slurmctld unreachable stay journalled; one flush sends 2 jobs; LDAP gets each once, in order', async (t) => {
  const config = loadConfig(node1.configDir);
  // a slurm.conf naming a port where no slurmctld listens: the batch system is unreachable
  const deadConf = join(dir, 'dead-slurm.conf');
  writeFileSync(deadConf, readFileSync(info.slurmConf, 'utf8').replace(/^SlurmctldPort=\d+$/m, `SlurmctldPort=${sandbox.portBase + 7}`));
  const raw = JSON.parse(readFileSync(join(node1.configDir, 'config.json'), 'utf8')) as { batch: Record<string, unknown> };
  const deadConfig = parseConfig({ ...raw, batch: { ...raw.batch, slurmConf: deadConf } });
  const logs: string[] = [];
  const sink = openEventSink(deadConfig, node1.configDir, openBatch(deadConfig), (l) => logs.push(l), 'node1');
  const states = ['starting', 'running', 'stopping', 'stopped', 'starting', 'running', 'stopping', 'stopped', 'running', 'destroyed'] as const;
  const jobIds = Array.from({ length: 30 }, (_, i) => String(880_001 + i));
  const events: VeEvent[] = states.flatMap((state, k) => jobIds.map((jobId) => ({
    ...base, jobId, domain: `pbsve-${jobId}`, name: `flush${jobId}`, state, seq: 1_000_001 + k, at: new Date(Date.UTC(2026, 4, 1, 10, k)).toISOString(), reason: `step ${k}`,
  })));
  t.equal(events.length, 300);
  const emitted = await sink.emit(events);
  t.same(emitted, { sent: 0, pending: 300 }, 'nothing sent');
  t.match(logs.join('\n'), /events kept in the journal, vemon job not accepted/);
  const journal = openEventJournal(hostJournalPath(config));
  t.equal(journal.pending().length, 300, 'all 300 in the journal');
  for (const jobId of jobIds.slice(0, 3)) t.equal(await reader.getVe(jobId), undefined, 'not in LDAP yet');

  const flushed = await flushHostJournal(config, node1.configDir, 'node1', (l) => logs.push(l));
  t.same(flushed, { sent: 300, pending: 0 });
  t.equal(journal.pending().length, 0);
  const sentLines = readFileSync(hostJournalPath(config), 'utf8').split('\n').filter((l) => l.startsWith('S '));
  const vemonJobs = [...new Set(sentLines.map((l) => l.split(' ')[2]))];
  t.equal(vemonJobs.length, 2, `2 vemon jobs (${vemonJobs.join(', ')})`);

  // the two jobs may run side by side or in either order: seq makes that harmless, so wait for both
  const outputs = await waitFor('both vemon jobs to finish', 180_000, () => {
    const logDir = join(node1.stateDir, 'log');
    const files = readdirSync(logDir).filter((f) => vemonJobs.some((j) => f === `vemon-${j ?? ''}.out`));
    const text = files.map((f) => readFileSync(join(logDir, f), 'utf8')).join('');
    return Promise.resolve(files.length === 2 && (text.match(/^applied/gm) ?? []).length === 2 ? text : undefined);
  });
  const counts = [...outputs.matchAll(/applied (\d+), stale (\d+), duplicate (\d+), rejected (\d+)/g)];
  const sum = (i: number): number => counts.reduce((s, m) => s + Number(m[i]), 0);
  t.comment(`vemon jobs: ${counts.map((m) => m[0]).join(' | ')}`);
  t.equal(sum(1) + sum(2), 300, 'every event folded once (applied, or recorded as history when a later one came first)');
  t.equal(sum(3), 0, 'no event twice');
  t.equal(sum(4), 0, 'no event rejected');
  for (const jobId of jobIds) {
    const history = await reader.listHistory(jobId);
    t.same(history.map((h) => h.state), [...states], `job ${jobId}: every change, in order, none twice`);
    t.same(history.map((h) => h.seq), states.map((_, k) => 1_000_001 + k));
    const ve = await reader.getVe(jobId);
    t.equal(ve?.state, 'destroyed');
    t.equal(ve?.seq, 1_000_010);
  }
});

void t.test('a vemon job that fails before ve-monitor runs loses nothing: its host sends the events again', async (t) => {
  const config = loadConfig(info.configDir);
  const batch = openBatch(config);
  // the first vemon job is built with a node that does not exist: it ends (exit 127) before ve-monitor
  // runs, as a TORQUE event job of a pbsve without login shell did
  const raw = JSON.parse(readFileSync(join(info.configDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const broken = parseConfig({ ...raw, nodePath: '/nonexistent/node' });
  const logs: string[] = [];
  const event: VeEvent = { ...base, jobId: '990101', domain: 'pbsve-990101', name: 'resend1', reason: 'sent by a vemon job that failed' };
  const sink = openEventSink(broken, info.configDir, batch, (l) => logs.push(l), 'node1');
  t.same(await sink.emit([event]), { sent: 1, pending: 0 }, 'accepted by Slurm');
  const journal = openEventJournal(hostJournalPath(config));
  const sent = journal.unconfirmed().at(-1);
  t.ok(sent !== undefined, 'handed over, not yet delivered');
  const vemonJob = sent?.jobId ?? '';
  const ended = await waitFor(`vemon job ${vemonJob} to end`, 180_000, async () => {
    const job = await batch.getJob(vemonJob);
    return job?.state === 'completed' ? job : undefined;
  });
  t.not(ended.exitStatus, 0, `it failed (exit ${String(ended.exitStatus)})`);
  t.ok(ended.resources.features.includes('vemon'), `it asked for the vemon feature (${ended.resources.features.join(',')})`);
  t.equal(await reader.getVe('990101'), undefined, 'nothing in LDAP');
  // the periodic hook's path: ask how the vemon jobs ended, then send what is pending again
  const flushed = await flushHostJournal(config, info.configDir, 'node1', (l) => logs.push(l));
  t.match(logs.join('\n'), new RegExp(`vemon job ${vemonJob} did not deliver its 1 event\\(s\\): it ended with exit`));
  t.ok(flushed.sent >= 1, `sent again (${flushed.sent})`);
  const ve = await waitFor('the event in LDAP', 180_000, async () => {
    const found = await reader.getVe('990101');
    return found?.state === 'running' ? found : undefined;
  });
  t.equal(ve.seq, 1_000_001, 'the same event, the same seq');
  // the resent job ended with exit 0: confirmed, so nothing of this sandbox's hosts awaits delivery
  await waitFor('every vemon job confirmed', 180_000, async () => {
    await flushHostJournal(config, info.configDir, 'node1', (l) => logs.push(l));
    return journal.unconfirmed().length === 0 ? true : undefined;
  });
  t.equal((await reader.listHistory('990101')).length, 1, 'one history entry: no duplicate');
});
