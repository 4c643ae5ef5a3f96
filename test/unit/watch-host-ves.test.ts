import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createFakeVirt, type FakeVirt } from '../fakes/fake-virt.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import { waitFor } from '../harness/wait-for.js';
import { watchHostVes, type HostWatch } from '../../src/host-watch/watch-host-ves.js';
import { answerJobBody, findJobDir, openJobBodyChannel, readJobBodyAnswer, writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import { writeVeRecoveryRecord } from '../../src/host/ve-recovery-record.js';
import { runCommand } from '../../src/core/run-command.js';
import { systemClock } from '../../src/core/clock.js';

const spec = { version: 1 as const, name: 'web1', type: 'kvm' as const, image: 'tinyvm', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

// A realized VE as the prologue leaves it: record, running domain, the job body's channel.
async function realize(stateDir: string, virt: FakeVirt, jobId: string, extra: Partial<VeJobRecord> = {}): Promise<string> {
  const domain = `pbsve-${jobId}`;
  writeVeJobRecord(stateDir, { jobId, spec, owner: 'u', host: 'node1', domain, uri: 'test:///fake', roUri: 'test:///fake', startCount: 1, status: 'realized', reason: '', emulated: false, ...extra });
  virt.domains.set(domain, { state: 'running', reason: 'booted', persistent: true, xml: `<domain><name>${domain}</name></domain>`, saved: false });
  await openJobBodyChannel(findJobDir(stateDir, jobId), me, runCommand);
  return findJobDir(stateDir, jobId);
}

function start(stateDir: string, virt: FakeVirt, lines: string[], waitMs = 600_000): Promise<HostWatch> {
  return watchHostVes({
    host: 'node1', stateDir, uris: [virt.uri], openVirt: () => Promise.resolve(virt), clock: systemClock, log: (l) => lines.push(l),
    recoveryWaitMs: waitMs, readParts: () => Promise.resolve([]), partsEveryMs: 60_000, reconnectMs: 5,
    copyConsole: () => ({ ended: new Promise(() => undefined), stop: () => undefined }),
  });
}

void t.test('the watcher ends a job when its guest powers off, and only then', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const dir = await realize(stateDir, virt, '7');
  const held = await realize(stateDir, virt, '8', { ownerState: 'stopped' });
  const lines: string[] = [];
  const watch = await start(stateDir, virt, lines);
  t.teardown(() => watch.stop());
  t.equal(readJobBodyAnswer(dir), undefined, 'a running VE keeps its job');
  virt.changeBehind('pbsve-8', 'shutoff', 'shutdown', 'Stopped');
  virt.changeBehind('pbsve-7', 'shutoff', 'shutdown', 'Stopped');
  await watch.settle();
  t.match(readJobBodyAnswer(dir), { exitCode: 0, message: /pbsve-7 is shutoff: the job ends/ });
  t.equal(readJobBodyAnswer(held), undefined, 'a VE its owner stopped keeps its job');
  t.match(lines.join('\n'), /job 7: .*the job ends \(exit 0\)/);
});

void t.test('a crash waits for the recovery and ends the job when the recovery gives up', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const dir = await realize(stateDir, virt, '9');
  const lines: string[] = [];
  const watch = await start(stateDir, virt, lines);
  t.teardown(() => watch.stop());
  virt.changeBehind('pbsve-9', 'shutoff', 'destroyed', 'Stopped');
  await watch.settle();
  t.equal(readJobBodyAnswer(dir), undefined, 'waits for the host\'s recovery');
  t.match(lines.join('\n'), /is down \(crashed\); waiting up to 600 s/);
  // the recovery restarts it, it crashes again, and the recovery gives up: its record is the word
  virt.changeBehind('pbsve-9', 'running', 'booted', 'Started');
  virt.changeBehind('pbsve-9', 'shutoff', 'destroyed', 'Stopped');
  writeVeRecoveryRecord(stateDir, '9', { phase: 'failed', restarts: [], reason: 'recovery gave up: no snapshot', updatedAt: new Date().toISOString() });
  const answer = await waitFor('the answer after the recovery gave up', 20_000, () => readJobBodyAnswer(dir), 20);
  t.match(answer, { exitCode: 1, message: /could not be recovered: recovery gave up: no snapshot/ });
});

void t.test('a crash nobody recovers ends the job after the wait', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const dir = await realize(stateDir, virt, '10');
  const watch = await start(stateDir, virt, [], 50);
  t.teardown(() => watch.stop());
  virt.changeBehind('pbsve-10', 'crashed', 'panicked', 'Crashed');
  const answer = await waitFor('the answer after the wait', 20_000, () => readJobBodyAnswer(dir), 20);
  t.match(answer, { exitCode: 0, message: /was not recovered within 0 s/ });
});

void t.test('what happens while libvirtd restarts or the watcher is down is seen when they are back', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const a = await realize(stateDir, virt, '11');
  const b = await realize(stateDir, virt, '12');
  const lines: string[] = [];
  let watch = await start(stateDir, virt, lines);
  // libvirtd goes; a guest powers off meanwhile (no event reaches anybody); it comes back
  virt.endEventStreams();
  virt.domains.set('pbsve-11', { ...virt.domains.get('pbsve-11') ?? { persistent: true, xml: '', saved: false }, state: 'shutoff', reason: 'shutdown' });
  t.match(await waitFor('the answer after the reconnect', 20_000, () => readJobBodyAnswer(a), 20), { exitCode: 0 });
  await watch.stop();
  // no watcher: a guest powers off; the new watcher looks at every job directory when it starts
  virt.domains.set('pbsve-12', { ...virt.domains.get('pbsve-12') ?? { persistent: true, xml: '', saved: false }, state: 'shutoff', reason: 'shutdown' });
  watch = await start(stateDir, virt, lines);
  t.teardown(() => watch.stop());
  t.match(readJobBodyAnswer(b), { exitCode: 0, message: /pbsve-12 is shutoff/ });
});

void t.test('ve migrate: the source host\'s watcher leaves the job of a VE that moves away (live: domain gone; cold: shut off)', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const at = new Date().toISOString();
  const live = await realize(stateDir, virt, '30', { migration: { from: 'node1', to: 'node2', live: true, at } });
  const cold = await realize(stateDir, virt, '31', { ownerState: 'stopped', migration: { from: 'node1', to: 'node2', live: false, at } });
  const lines: string[] = [];
  const watch = await start(stateDir, virt, lines, 50);
  t.teardown(() => watch.stop());
  virt.changeBehind('pbsve-31', 'shutoff', 'shutdown', 'Stopped');
  virt.changeBehind('pbsve-30', 'shutoff', 'migrated', 'Stopped');
  virt.domains.delete('pbsve-30');
  await watch.rescan();
  t.equal(readJobBodyAnswer(live), undefined, 'live: the domain left, the job is the batch system\'s to requeue');
  t.equal(readJobBodyAnswer(cold), undefined, 'cold: the stopped domain ends nothing');
  t.notMatch(lines.join('\n'), /the job ends/);
});

// The job body itself: scripts/job-body.sh as the batch system runs it.
function runBody(stateDir: string, jobId: string): { started: Promise<void>; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn('/bin/sh', [join(process.cwd(), 'scripts/job-body.sh')], { env: { PATH: '/usr/bin:/bin', PBS_VE_STATE_DIR: stateDir, SLURM_JOB_ID: jobId }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onStart = (): void => undefined;
  const started = new Promise<void>((resolve) => { onStart = resolve; });
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (/keeps its VE alive/.test(out)) onStart(); });
  const done = new Promise<{ code: number | null; out: string }>((resolve) => { child.on('close', (code) => { onStart(); resolve({ code, out }); }); });
  return { started, done };
}

void t.test('the job body blocks on its FIFO and exits with the answer, whether it came before or after it started', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'watch-'));
  const virt = createFakeVirt();
  const waiting = await realize(stateDir, virt, '20');
  const body = runBody(stateDir, '20');
  await body.started;
  answerJobBody(waiting, 1, 'pbs-ve: domain pbsve-20 could not be recovered');
  t.match(await body.done, { code: 1, out: /keeps its VE alive[\s\S]*pbsve-20 could not be recovered/ });
  const early = await realize(stateDir, virt, '21');
  answerJobBody(early, 0, 'pbs-ve: domain pbsve-21 is shutoff: the job ends');
  t.match(await runBody(stateDir, '21').done, { code: 0, out: /pbsve-21 is shutoff/ });
  t.match(await runBody(stateDir, '22').done, { code: 1, out: /no running VE for job 22/ }, 'no VE realized here: ends at once');
});
