import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openEventJournal, resendDelayMs } from '../../src/events/event-journal.js';
import { chooseVemonOutputPath, EVENTS_PER_JOB, createEventSigner, createEventSink } from '../../src/events/event-sink.js';
import { ensureHostKey, openHostKeyring } from '../../src/events/host-key.js';
import { verifyEventLine } from '../../src/events/sign-event-line.js';
import { decodeVeEvent, encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { VeError } from '../../src/core/ve-error.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { Batch, BatchJob, SubmitRequest } from '../../src/batch/batch.js';
import type { VeEvent } from '../../src/core/ve-event.js';

const base: VeEvent = {
  version: 1, jobId: '15', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-15', source: 'prologue', reason: 'domain running',
};

// A batch system that is down until told otherwise, recording every accepted script.
function buildFakeBatch(): Batch & { up: boolean; accepted: SubmitRequest[] } {
  const fake = {
    up: false, accepted: [] as SubmitRequest[],
    submit(r: SubmitRequest) {
      if (!fake.up) return Promise.reject(new VeError('batch-unavailable', 'environment', 'slurmctld down'));
      fake.accepted.push(r);
      return Promise.resolve(String(100 + fake.accepted.length));
    },
    getJob: () => Promise.reject(new Error('unused')), listJobs: () => Promise.reject(new Error('unused')), cancel: () => Promise.reject(new Error('unused')),
    listNodes: () => Promise.reject(new Error('unused')), setNodeOffline: () => Promise.reject(new Error('unused')), setNodeOnline: () => Promise.reject(new Error('unused')), requeue: () => Promise.reject(new Error('unused')),
    readJobScript: () => Promise.reject(new Error('unused')),
    setTimeLimit: () => Promise.reject(new Error('unused')),
    moveJob: () => Promise.reject(new Error('unused')),
    buildAttachCommand: () => { throw new Error('unused'); },
  };
  return fake;
}

function setup(t: { teardown: (fn: () => void) => void }): { sink: ReturnType<typeof createEventSink>; batch: ReturnType<typeof buildFakeBatch>; dir: string; logs: string[]; journalFile: string } {
  const dir = mkdtempSync('/tmp/pbsve-sink-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  ensureHostKey(join(dir, 'etc'), 'node1');
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(dir, 'state'), installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  const batch = buildFakeBatch();
  const logs: string[] = [];
  const journalFile = join(dir, 'state/journal/events.log');
  const sink = createEventSink({ batch, journal: openEventJournal(journalFile), config, configDir: join(dir, 'etc'), log: (l) => logs.push(l), sign: createEventSigner(openHostKeyring(join(dir, 'etc'))), vemonOutputPath: () => chooseVemonOutputPath(config, (l) => logs.push(l)) });
  return { sink, batch, dir, logs, journalFile };
}

function linesOf(script: string): string[] {
  const body = script.slice(script.indexOf("<<'PBSVE_EVENTS'\n") + 16, script.lastIndexOf('PBSVE_EVENTS'));
  return body.split('\n').filter((l) => l !== '');
}

void t.test('with the batch system down all 300 events stay journalled; one flush sends them in 2 jobs, in order, once', async (t) => {
  const { sink, batch, dir, logs, journalFile } = setup(t);
  const events = Array.from({ length: 300 }, (_, i) => ({ ...base, jobId: String(1000 + (i % 30)), seq: 1_000_001 + Math.floor(i / 30) }));
  t.same(await sink.emit(events), { sent: 0, pending: 300 });
  t.match(logs.join('\n'), /events kept in the journal, vemon job not accepted: slurmctld down/);
  t.equal(openEventJournal(journalFile).pending().length, 300);
  batch.up = true;
  t.same(await sink.flush(), { sent: 300, pending: 0 });
  t.equal(batch.accepted.length, 2, `ceil(300 / ${EVENTS_PER_JOB}) jobs`);
  const keyring = openHostKeyring(join(dir, 'etc'));
  const sent = batch.accepted.flatMap((r) => linesOf(r.script)).map((l) => decodeVeEvent(verifyEventLine(l, keyring).payload));
  t.same(sent, events, 'every event, in the order emitted, each once');
  t.same(await sink.flush(), { sent: 0, pending: 0 }, 'nothing twice');
  t.match(readFileSync(journalFile, 'utf8'), /^S \S+ 101 \d+$/m, 'journal marks what each job carried, and when');
  t.equal(batch.accepted[0]?.queue, 'vemon');
  t.strictSame(batch.accepted[0]?.features, ['vemon'], 'the vemon feature is requested, not left to a queue default');
  t.equal(batch.accepted[0]?.shell, '/bin/sh', 'an explicit shell: the submitting account may have no login shell');
  t.equal(batch.accepted[0]?.loginEnvironment, false, 'no login environment: the script names every path, and Slurm would hold the launch to load one');
});

void t.test('an event this host cannot sign stays in the journal, the others go', async (t) => {
  const { sink, batch, logs } = setup(t);
  batch.up = true;
  const result = await sink.emit([base, { ...base, host: 'node2', jobId: '16' }]);
  t.same(result, { sent: 1, pending: 1 });
  t.match(logs.join('\n'), /1 event\(s\) kept in the journal, cannot sign them: no key to sign events of host node2/);
  t.equal(batch.accepted.length, 1);
});

void t.test('emit never throws once the events are journalled (a caller would record the change twice)', async (t) => {
  const { batch, dir, logs, journalFile } = setup(t);
  const sink = createEventSink({ batch, journal: openEventJournal(journalFile), config: parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(dir, 'state'), installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' }), configDir: join(dir, 'etc'), log: (l) => logs.push(l), sign: createEventSigner(openHostKeyring(join(dir, 'etc'))), vemonOutputPath: () => '/dev/null', lockWaitMs: 300 });
  batch.up = true;
  // another hook holds the send lock (fresh, so not stale) for longer than flush waits
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(dir, 'state/journal'), { recursive: true });
  writeFileSync(join(dir, 'state/journal/send.lock'), '');
  const result = await sink.emit([base]);
  t.same(result, { sent: 0, pending: 1 });
  t.match(logs.join('\n'), /events kept in the journal, sending deferred: could not take .*send.lock/);
  t.equal(openEventJournal(journalFile).pending().length, 1, 'recorded once, sent by a later flush');
});

void t.test('record journals without sending; the next flush sends everything recorded in one job', async (t) => {
  const { sink, batch, journalFile } = setup(t);
  batch.up = true;
  await sink.record?.([base]);
  await sink.record?.([{ ...base, seq: 1_000_002, state: 'stopped' }]);
  t.equal(batch.accepted.length, 0, 'nothing sent yet');
  t.equal(openEventJournal(journalFile).pending().length, 2);
  t.same(await sink.flush(), { sent: 2, pending: 0 });
  t.equal(batch.accepted.length, 1, 'one vemon job for both');
});

// A batch system that answers getJob from a table (undefined = forgotten), for the delivery check.
// listJobs lists the table's known jobs (or fails while listingDown); getJob answers the rest one by one.
function buildAnsweringBatch(jobs: Map<string, Partial<BatchJob> | undefined>): Batch & { accepted: SubmitRequest[]; asked: string[]; listingDown: boolean } {
  const fake = buildFakeBatch();
  fake.up = true;
  const asked: string[] = [];
  const full = (jobId: string, j: Partial<BatchJob>): BatchJob => ({ jobId, state: 'completed', rawState: 'C', exitStatus: 0, ...j } as BatchJob);
  const answering = Object.assign(fake, {
    asked,
    listingDown: false,
    listJobs(): Promise<BatchJob[]> {
      if (answering.listingDown) return Promise.reject(new VeError('batch-unavailable', 'environment', 'server down'));
      return Promise.resolve([...jobs].flatMap(([id, j]) => (j === undefined ? [] : [full(id, j)])));
    },
    getJob(jobId: string): Promise<BatchJob | undefined> {
      asked.push(jobId);
      if (!jobs.has(jobId)) return Promise.reject(new VeError('batch-unavailable', 'environment', 'server down'));
      const j = jobs.get(jobId);
      return Promise.resolve(j === undefined ? undefined : full(jobId, j));
    },
  });
  return answering;
}

void t.test('accepted is not delivered: a vemon job that failed before ve-monitor ran gets its events sent again', async (t) => {
  const dir = mkdtempSync('/tmp/pbsve-sink-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  ensureHostKey(join(dir, 'etc'), 'node1');
  const config = parseConfig({ batch: { kind: 'torque', vemonFeature: 'mon' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(dir, 'state'), installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  const jobs = new Map<string, Partial<BatchJob> | undefined>();
  const batch = buildAnsweringBatch(jobs);
  const logs: string[] = [];
  const journal = openEventJournal(join(dir, 'state/journal/events.log'));
  const sink = createEventSink({ batch, journal, config, configDir: join(dir, 'etc'), log: (l) => logs.push(l), sign: createEventSigner(openHostKeyring(join(dir, 'etc'))), vemonOutputPath: () => chooseVemonOutputPath(config, (l) => logs.push(l)) });
  t.same(await sink.emit([base]), { sent: 1, pending: 0 }, 'job 101 accepted');
  t.strictSame(batch.accepted[0]?.features, ['mon'], 'batch.vemonFeature is what is asked for');
  t.equal(batch.accepted[0]?.outputPath, '/dev/null', 'TORQUE: the output is discarded, never left at a name a user can create');
  t.same(journal.unconfirmed().map((u) => [u.jobId, u.events]), [['101', 1]]);

  jobs.set('101', { state: 'running', rawState: 'R' });
  t.same(await sink.confirmSent?.(), { delivered: 0, undelivered: 0, waiting: 1 }, 'a running vemon job is waited for');
  t.equal(journal.pending().length, 0);

  // TORQUE: pbsve without a login shell, the job ends with exit 1 before ve-monitor runs
  jobs.set('101', { exitStatus: 1 });
  t.same(await sink.confirmSent?.(), { delivered: 0, undelivered: 1, waiting: 0 });
  t.match(logs.join('\n'), /vemon job 101 did not deliver its 1 event\(s\): it ended with exit 1/);
  t.equal(journal.pending().length, 1, 'the event is pending again');
  t.same(await sink.flush(), { sent: 1, pending: 0 }, 'resent in job 102');
  t.equal(batch.accepted.length, 2);
  t.same(linesOf(batch.accepted[1]?.script ?? ''), linesOf(batch.accepted[0]?.script ?? ''), 'the same signed event (same seq: a duplicate at the monitor is harmless)');

  jobs.set('102', { exitStatus: 75 });
  t.same(await sink.confirmSent?.(), { delivered: 1, undelivered: 0, waiting: 0 }, 'exit 75: spooled on the vemon node, delivered');
  t.same(journal.unconfirmed(), []);
  t.same(await sink.flush(), { sent: 0, pending: 0 }, 'nothing sent a third time');
});

void t.test('delivery check: forgotten jobs are resent, an unreachable batch system changes nothing', async (t) => {
  const dir = mkdtempSync('/tmp/pbsve-sink-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  ensureHostKey(join(dir, 'etc'), 'node1');
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(dir, 'state'), installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  const jobs = new Map<string, Partial<BatchJob> | undefined>();
  const batch = buildAnsweringBatch(jobs);
  const logs: string[] = [];
  const journal = openEventJournal(join(dir, 'state/journal/events.log'));
  const sink = createEventSink({ batch, journal, config, configDir: join(dir, 'etc'), log: (l) => logs.push(l), sign: createEventSigner(openHostKeyring(join(dir, 'etc'))), vemonOutputPath: () => chooseVemonOutputPath(config, (l) => logs.push(l)) });
  await sink.emit([base]);
  await sink.emit([{ ...base, seq: 1_000_002, state: 'stopped' }]);
  batch.listingDown = true;
  t.same(await sink.confirmSent?.(), { delivered: 0, undelivered: 0, waiting: 2 }, 'server down: both stay as sent');
  t.match(logs.join('\n'), /cannot tell whether 2 vemon job\(s\) delivered/);
  batch.listingDown = false;
  t.same(await sink.confirmSent?.(), { delivered: 0, undelivered: 0, waiting: 2 }, 'listed without them, and asked alone: no answer');
  t.match(logs.join('\n'), /cannot tell whether vemon job 101 delivered/);
  t.equal(journal.pending().length, 0);
  jobs.set('101', undefined);
  jobs.set('102', { exitStatus: 2 });
  batch.asked.length = 0;
  t.same(await sink.confirmSent?.(), { delivered: 1, undelivered: 1, waiting: 0 });
  t.same(batch.asked, ['101'], 'only the job missing from the listing is asked about alone');
  t.same(journal.pending().map((p) => p.event), [encodeVeEvent(base)], 'the forgotten job\'s event, not the delivered one');
});

void t.test('journals of older versions: a sent mark without a time counts as delivered', (t) => {
  const dir = mkdtempSync('/tmp/pbsve-journal-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const file = join(dir, 'events.log');
  writeFileSync(file, 'E 1-1-0 aaa\nE 1-1-1 bbb\nS 1-1-0 77\n');
  const journal = openEventJournal(file);
  t.same(journal.pending(), [{ id: '1-1-1', event: 'bbb' }]);
  t.same(journal.unconfirmed(), [], 'nothing asked about old jobs');
  t.end();
});

void t.test('events whose vemon jobs keep failing are resent with a growing pause, never dropped', (t) => {
  const dir = mkdtempSync('/tmp/pbsve-journal-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const journal = openEventJournal(join(dir, 'events.log'));
  journal.append(['aaa']);
  const id = journal.pending()[0]?.id ?? '';
  const t0 = Date.UTC(2026, 11, 2, 6);
  const at = (minutes: number): Date => new Date(t0 + minutes * 60_000);
  journal.markSent([id], '101', at(0));
  t.same(journal.pending(at(0)), [], 'sent: not pending');
  journal.retract('101');
  t.same(journal.pending(at(0)).length, 1, 'first failure: resent at once');
  journal.markSent([id], '102', at(1));
  journal.retract('102');
  t.same(journal.pending(at(1.5)), [], 'second failure: one minute of pause');
  t.same(journal.pending(at(2)).length, 1);
  journal.markSent([id], '103', at(2));
  journal.retract('103');
  t.same(journal.pending(at(3.9)), [], 'third: two minutes');
  t.same(journal.pending(at(4)).length, 1);
  t.same([1, 2, 3, 4, 9, 20].map(resendDelayMs), [0, 60_000, 120_000, 240_000, 3_600_000, 3_600_000], 'capped at an hour');
  journal.markSent([id], '104', at(4));
  journal.confirm('104');
  t.same(journal.pending(at(600)), [], 'delivered at last: done');
  t.end();
});
