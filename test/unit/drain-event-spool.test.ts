import { createFakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openEventSpool, openMemoryEventSpool } from '../../src/ve-monitor/event-spool.js';
import { drainEventSpool } from '../../src/ve-monitor/drain-event-spool.js';
import { encodeVeEvent, decodeVeEvent } from '../../src/events/encode-ve-event.js';
import { VeError } from '../../src/core/ve-error.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { Clock } from '../../src/core/clock.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { HistoryRecord, Inventory, VeRecord } from '../../src/inventory/inventory.js';

const base: VeEvent = {
  version: 1, jobId: '21', seq: 1_000_016, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-21', source: 'mom-hook', reason: 'domain running',
};
const line = (seq: number, state: VeEvent['state']): string => encodeVeEvent({ ...base, seq, state });

// LDAP as a map that can be "down": every call fails like a dead slapd while down > 0 (counts down per connection).
function buildLdap(): { ves: Map<string, VeRecord>; history: HistoryRecord[]; downFor: number; failWith: VeError | undefined; opened: number; open: () => Inventory } {
  const ldap = {
    ves: new Map<string, VeRecord>(), history: [] as HistoryRecord[], downFor: 0, opened: 0, failWith: undefined as VeError | undefined,
    open(): Inventory {
      ldap.opened++;
      const down = ldap.downFor > 0;
      if (down) ldap.downFor--;
      const check = (): void => {
        if (ldap.failWith !== undefined) throw ldap.failWith;
        if (down) throw new VeError('inventory-unavailable', 'environment', 'LDAP bind: directory unreachable: connect ECONNREFUSED');
      };
      const { ves, history } = ldap;
      return createFakeInventory({
        getVe: (id) => { check(); return Promise.resolve(ves.get(id)); },
        listVes: () => Promise.resolve([...ves.values()]),
        createVe: (r) => { check(); ves.set(r.jobId, r); return Promise.resolve(); },
        updateVe: (r, expected) => { check(); if (ves.get(r.jobId)?.seq !== expected) return Promise.resolve(false); ves.set(r.jobId, r); return Promise.resolve(true); },
        addHistory: (h) => { check(); if (history.some((x) => x.jobId === h.jobId && x.seq === h.seq)) return Promise.resolve(false); history.push(h); return Promise.resolve(true); },
        listHistory: (id) => Promise.resolve(history.filter((h) => h.jobId === id).sort((a, b) => a.seq - b.seq)),
        close: () => Promise.resolve(),
      });
    },
  };
  return ldap;
}

// Time passes only when someone sleeps: backoff and the wait bound are checked without waiting.
function buildClock(): Clock & { slept: number[] } {
  let now = Date.UTC(2026, 10, 23, 10);
  const slept: number[] = [];
  return { slept, now: () => new Date(now), sleep: (ms) => { slept.push(ms); now += ms; return Promise.resolve(); } };
}

function setup(t: { teardown: (fn: () => void) => void }): { dir: string; spool: ReturnType<typeof openEventSpool>; ldap: ReturnType<typeof buildLdap>; clock: ReturnType<typeof buildClock>; logs: string[]; deps: Parameters<typeof drainEventSpool>[0] } {
  const dir = mkdtempSync('/tmp/pbsve-spool-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const spool = openEventSpool(join(dir, 'spool'));
  const ldap = buildLdap();
  const clock = buildClock();
  const logs: string[] = [];
  const readLines = (lines: readonly string[]): (VeEvent | VeError)[] => lines.map((l) => { try { return decodeVeEvent(l); } catch (err) { return err as VeError; } });
  return { dir, spool, ldap, clock, logs, deps: { spool, openInventory: () => ldap.open(), readLines, checkClaims: (e) => Promise.resolve([...e]), clock, log: (l) => logs.push(l) } };
}

void t.test('spooled files are applied oldest first and removed; the spool is empty afterwards', async (t) => {
  const { spool, ldap, deps } = setup(t);
  spool.add([line(1_000_016, 'running'), line(1_000_032, 'stopped')], '101');
  spool.add([line(1_000_048, 'running')], '102');
  t.equal(spool.list().length, 2);
  const report = await drainEventSpool(deps, { waitMs: 60_000 });
  t.same({ files: report.files, applied: report.applied, left: report.left, problem: report.problem }, { files: 2, applied: 3, left: 0, problem: undefined });
  t.same(spool.list(), []);
  t.same(ldap.history.map((h) => h.state), ['running', 'stopped', 'running']);
  t.equal(ldap.ves.get('21')?.seq, 1_000_048);
});

void t.test('LDAP down for a while: retried with doubling backoff, then everything applied once', async (t) => {
  const { spool, ldap, clock, logs, deps } = setup(t);
  spool.add([line(1_000_016, 'running'), line(1_000_032, 'stopped')], '103');
  ldap.downFor = 4;
  const report = await drainEventSpool(deps, { waitMs: 300_000, backoffMs: 1000, maxBackoffMs: 4000 });
  t.same(clock.slept, [1000, 2000, 4000, 4000], 'exponential backoff, capped');
  t.equal(report.applied, 2);
  t.equal(report.problem, undefined);
  t.same(spool.list(), []);
  t.equal(ldap.history.length, 2);
  t.match(logs.join('\n'), /LDAP unavailable, retrying in 1000 ms/);
});

void t.test('LDAP down past the wait: the run gives up, every file stays spooled, and a later run applies them', async (t) => {
  const { spool, ldap, clock, logs, deps } = setup(t);
  spool.add([line(1_000_016, 'running')], '104');
  spool.add([line(1_000_032, 'stopped')], '105');
  ldap.downFor = 1000;
  const report = await drainEventSpool(deps, { waitMs: 10_000, backoffMs: 1000 });
  t.equal(report.left, 2);
  t.match(report.problem, /ECONNREFUSED/);
  t.ok(clock.slept.reduce((a, b) => a + b, 0) <= 10_000, 'never waits past the bound');
  t.equal(spool.list().length, 2, 'nothing lost');
  t.match(logs.join('\n'), /2 spooled file\(s\) left for the next vemon job or reconcile/);
  ldap.downFor = 0;
  const later = await drainEventSpool(deps, { waitMs: 0 });
  t.equal(later.applied, 2);
  t.same(spool.list(), []);
  t.same(ldap.history.map((h) => h.state), ['running', 'stopped']);
});

void t.test('a file half-applied before LDAP went away is applied again without doubling anything', async (t) => {
  const { spool, ldap, deps } = setup(t);
  spool.add([line(1_000_016, 'running'), line(1_000_032, 'stopped'), line(1_000_048, 'running')], '106');
  // the first two events reached LDAP in an earlier, killed run
  const first = ldap.open();
  const { applyEvent } = await import('../../src/ve-monitor/apply-event.js');
  await applyEvent(first, decodeVeEvent(line(1_000_016, 'running')));
  await applyEvent(first, decodeVeEvent(line(1_000_032, 'stopped')));
  const report = await drainEventSpool(deps, { waitMs: 0 });
  t.same({ applied: report.applied, duplicate: report.duplicate }, { applied: 1, duplicate: 2 });
  t.same(ldap.history.map((h) => h.seq), [1_000_016, 1_000_032, 1_000_048], 'each once, in order');
});

void t.test('a file LDAP refuses for a non-outage reason is quarantined, not retried forever', async (t) => {
  const { spool, ldap, clock, deps } = setup(t);
  spool.add([line(1_000_016, 'running')], '107');
  ldap.failWith = new VeError('inventory-rejected', 'exec', 'LDAP add: constraint violation');
  const report = await drainEventSpool(deps, { waitMs: 60_000 });
  t.same(clock.slept, [], 'no waiting for something that will not change');
  t.equal(report.quarantined.length, 1);
  t.ok(existsSync(report.quarantined[0] ?? ''), 'kept for the administrator');
  t.same(spool.list(), []);
});

void t.test('a file locked by a live process is left alone; a lock of a dead process is taken over', async (t) => {
  const { dir, spool, ldap, deps } = setup(t);
  const name = spool.add([line(1_000_016, 'running')], '108');
  writeFileSync(join(dir, 'spool', `${name}.lock`), `${process.pid}\n`);
  const held = await drainEventSpool(deps, { waitMs: 0 });
  t.same({ applied: held.applied, left: held.left }, { applied: 0, left: 1 });
  t.equal(ldap.history.length, 0);
  const dead = spawnSync('true').pid ?? 999_999;
  writeFileSync(join(dir, 'spool', `${name}.lock`), `${dead}\n`);
  const taken = await drainEventSpool(deps, { waitMs: 0 });
  t.same({ applied: taken.applied, left: taken.left }, { applied: 1, left: 0 });
  t.same(readdirSync(join(dir, 'spool')).filter((f) => !f.startsWith('failed')), [], 'no file, no lock left behind');
});

void t.test('spool files are root-only and their names cannot leave the spool directory', (t) => {
  const { dir, spool } = setup(t);
  const name = spool.add(['abc'], '../../etc/passwd');
  t.match(name, /^\d{15}-\d+-\d+-\.\._\.\._etc_passwd\.events$/);
  t.throws(() => spool.read('../x.events'), { code: 'invalid-spool-file' });
  const mode = spawnSync('stat', ['-c', '%a', join(dir, 'spool', name)]).stdout.toString().trim();
  t.equal(mode, '600');
  t.end();
});

void t.test('without a writable spool directory the events are still applied, with the same retries', async (t) => {
  const { ldap, clock, deps } = setup(t);
  ldap.downFor = 2;
  const spool = openMemoryEventSpool([line(1_000_016, 'running'), line(1_000_032, 'stopped')]);
  const report = await drainEventSpool({ ...deps, spool }, { waitMs: 60_000 });
  t.same(clock.slept, [1000, 2000]);
  t.same({ applied: report.applied, left: report.left }, { applied: 2, left: 0 });
  t.same(spool.list(), []);
});

void t.test('ldap.applyWaitSeconds: optional, a positive whole number', (t) => {
  const raw = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} } };
  t.equal(parseConfig(raw).ldap.applyWaitSeconds, undefined, 'absent: ve-monitor apply uses 300 s');
  t.equal(parseConfig({ ...raw, ldap: { ...raw.ldap, applyWaitSeconds: 4 } }).ldap.applyWaitSeconds, 4);
  t.throws(() => parseConfig({ ...raw, ldap: { ...raw.ldap, applyWaitSeconds: 0 } }), /ldap\.applyWaitSeconds/);
  t.throws(() => parseConfig({ ...raw, ldap: { ...raw.ldap, applyWaitSeconds: '5m' } }), /ldap\.applyWaitSeconds/);
  t.end();
});

void t.test('claims that cannot be checked keep the files spooled: nothing is applied unchecked', async (t) => {
  const { spool, ldap, logs, deps } = setup(t);
  spool.add([line(1_000_016, 'running')], '201');
  spool.add([line(1_000_032, 'stopped')], '202');
  const uncheckable = new VeError('event-claims-uncheckable', 'environment', 'job 21 is not in the job listing and the batch system would not show it: qstat: Unauthorized Request');
  const report = await drainEventSpool({ ...deps, checkClaims: () => Promise.reject(uncheckable) }, { waitMs: 60_000 });
  t.same({ files: report.files, applied: report.applied, left: report.left }, { files: 0, applied: 0, left: 2 });
  t.match(report.problem, /Unauthorized Request/);
  t.equal(ldap.opened, 0, 'LDAP never touched');
  t.equal(spool.list().length, 2, 'both files still spooled');
  t.match(logs.join('\n'), /2 spooled file\(s\) left, claims not checked/);
  // once the batch system answers, the next run applies them
  const again = await drainEventSpool(deps, { waitMs: 60_000 });
  t.same({ files: again.files, applied: again.applied, left: again.left }, { files: 2, applied: 2, left: 0 });
});

void t.test('a claim the batch system contradicts is refused when the file is applied, and recorded', async (t) => {
  const { spool, ldap, deps } = setup(t);
  spool.add([line(1_000_016, 'running'), line(1_000_032, 'stopped')], '203');
  const recorded: { file: string; lines: number[] }[] = [];
  const report = await drainEventSpool({
    ...deps,
    checkClaims: (events) => Promise.resolve(events.map((e, i) => (i === 0 ? new VeError('event-claim-mismatch', 'prereq', 'job 21 runs on node2, the event claims running on node1') : e))),
    recordRejected: (file, rejected) => { recorded.push({ file, lines: rejected.map((r) => r.line) }); },
  }, { waitMs: 60_000 });
  t.same({ applied: report.applied, rejected: report.rejected }, { applied: 1, rejected: 1 });
  t.same(ldap.history.map((h) => h.state), ['stopped']);
  t.equal(recorded.length, 1);
  t.same(recorded[0]?.lines, [1]);
  t.match(recorded[0]?.file, /-203\.events$/);
});
