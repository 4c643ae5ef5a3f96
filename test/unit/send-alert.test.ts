import { createFakeInventory } from '../fakes/fake-inventory.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlertSender } from '../../src/ve-monitor/send-alert.js';
import { parseConfig } from '../../src/config/load-config.js';
import { applyEvents } from '../../src/ve-monitor/apply-event.js';
import { alertFailedVes } from '../../src/ve-monitor/alert-failed-ves.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { Inventory, VeRecord } from '../../src/inventory/inventory.js';

// A fake alert command: appends "<kind> <key>: <stdin>" to a file, like a mail or webhook script would send.
function buildFakeCommand(dir: string): { command: string[]; read: () => string[] } {
  const script = join(dir, 'alert.sh');
  const out = join(dir, 'alerts.txt');
  writeFileSync(script, `#!/bin/sh\nprintf '%s %s: %s\\n' "$PBS_VE_ALERT_KIND" "$PBS_VE_ALERT_KEY" "$(cat)" >>"$1"\n`);
  chmodSync(script, 0o755);
  return { command: [script, out], read: () => { try { return readFileSync(out, 'utf8').trim().split('\n'); } catch { return []; } } };
}

function setup(options: { command?: string[] | 'fake'; maxPerWindow?: number } = {}) {
  const dir = makeTempDir(join(tmpdir(), 'pbsve-alert-'));
  const fake = buildFakeCommand(dir);
  let now = new Date('2026-05-01T10:00:00Z');
  const log: string[] = [];
  const send = createAlertSender({
    command: options.command === 'fake' || options.command === undefined ? fake.command : options.command,
    stateFile: join(dir, 'monitor/alerts.json'), clock: { now: () => now, sleep: () => Promise.resolve() }, log: (l) => { log.push(l); },
    repeatAfterMs: 3600_000, windowMs: 600_000, ...(options.maxPerWindow === undefined ? {} : { maxPerWindow: options.maxPerWindow }),
  });
  return { send, read: fake.read, log, dir, advance: (ms: number) => { now = new Date(now.getTime() + ms); } };
}

void t.test('the command gets the text on stdin; the same fault is one alert until repeatAfterMs', async (t) => {
  const s = setup();
  t.equal(await s.send({ kind: 'host-down', key: 'node1', text: 'host node1 is down; $(reboot) `x`' }), 'sent');
  t.equal(await s.send({ kind: 'host-down', key: 'node1', text: 'host node1 is down (again)' }), 'duplicate');
  t.equal(await s.send({ kind: 'host-fenced', key: 'node1', text: 'node1 fenced' }), 'sent', 'another kind is another fault');
  t.equal(await s.send({ kind: 'host-down', key: 'node2', text: 'host node2 is down' }), 'sent', 'another host is another fault');
  s.advance(3600_000);
  t.equal(await s.send({ kind: 'host-down', key: 'node1', text: 'still down' }), 'sent', 'repeated after repeatAfterMs');
  t.same(s.read(), [
    'host-down node1: host node1 is down; $(reboot) `x`', 'host-fenced node1: node1 fenced', 'host-down node2: host node2 is down', 'host-down node1: still down',
  ], 'hostile text passes as data, never through a shell');
});

void t.test('a storm is cut at maxPerWindow and logged', async (t) => {
  const s = setup({ maxPerWindow: 3 });
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(await s.send({ kind: 'host-down', key: `node${i}`, text: `node${i} down` }));
  t.same(outcomes, ['sent', 'sent', 'sent', 'rate-limited', 'rate-limited']);
  t.equal(s.read().length, 3);
  t.match(s.log, [/rate limit \(3 per 600 s\).*node3/, /node4/]);
  s.advance(600_000);
  t.equal(await s.send({ kind: 'host-down', key: 'node3', text: 'node3 down' }), 'sent', 'the window moves on; a suppressed alert was never recorded as sent');
});

void t.test('a failing command is retried on the next pass; no command configured only logs', async (t) => {
  const failing = setup({ command: ['/bin/false'] });
  t.equal(await failing.send({ kind: 'host-down', key: 'node1', text: 'x' }), 'failed');
  t.equal(await failing.send({ kind: 'host-down', key: 'node1', text: 'x' }), 'failed', 'not recorded as sent');
  t.match(failing.log, [/alert command \/bin\/false exited 1/]);
  const missing = setup({ command: ['/nonexistent/alert'] });
  t.equal(await missing.send({ kind: 'host-down', key: 'node1', text: 'x' }), 'failed');
  const dir = makeTempDir(join(tmpdir(), 'pbsve-alert-'));
  const log: string[] = [];
  const none = createAlertSender({ command: undefined, stateFile: join(dir, 'a.json'), clock: { now: () => new Date(), sleep: () => Promise.resolve() }, log: (l) => { log.push(l); } });
  t.equal(await none({ kind: 'host-down', key: 'node1', text: 'node1 down' }), 'no-command');
  t.equal(await none({ kind: 'host-down', key: 'node1', text: 'node1 down' }), 'duplicate', 'de-duplicated all the same');
  t.match(log, [/alert \(no alertCommand configured\): host-down node1: node1 down/]);
});

void t.test('config alertCommand: optional, an absolute program and plain string arguments', (t) => {
  const base = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } };
  t.equal(parseConfig(base).alertCommand, undefined);
  t.same(parseConfig({ ...base, alertCommand: ['/usr/local/sbin/pbs-ve-mail', 'admins@example.org'] }).alertCommand, ['/usr/local/sbin/pbs-ve-mail', 'admins@example.org']);
  for (const bad of [[], ['mail'], ['/usr/../bin/sh'], '/usr/bin/mail', ['/usr/bin/mail', 3], ['/usr/bin/mail', '']]) {
    t.throws(() => parseConfig({ ...base, alertCommand: bad }), /config alertCommand: /, JSON.stringify(bad));
  }
  t.end();
});

void t.test('a failed VE is one alert through the command, however often its event is applied', async (t) => {
  const s = setup();
  const inventory = buildMemoryInventory();
  const failed: VeEvent = {
    version: 1, jobId: '42', seq: 1_000_064, state: 'failed', at: '2026-05-01T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
    type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-42', source: 'recovery', reason: 'recovery gave up: no snapshot',
  };
  const lock = join(s.dir, 'monitor/alerts.lock');
  const first = await applyEvents(inventory, [failed, { ...failed, jobId: '43', name: 'web2', domain: 'pbsve-43' }]);
  t.same(first.failed.map((e) => e.jobId), ['42', '43']);
  t.same(await alertFailedVes(first.failed, s.send, lock), ['sent', 'sent']);
  const replay = await applyEvents(inventory, [failed]);
  t.same(replay.failed, [], 'a replayed event is not applied again');
  // a second failed event of the same VE (a later seq) is applied but is the same fault
  const again = await applyEvents(inventory, [{ ...failed, seq: failed.seq + 16 }]);
  t.same(await alertFailedVes(again.failed, s.send, lock), ['duplicate']);
  t.same(s.read(), [
    've-failed 42: pbs-ve: VE web1 (job 42, owner user1, lxc) failed on node1 at 2026-05-01T10:00:00.000Z: recovery gave up: no snapshot (reported by recovery)',
    've-failed 43: pbs-ve: VE web2 (job 43, owner user1, lxc) failed on node1 at 2026-05-01T10:00:00.000Z: recovery gave up: no snapshot (reported by recovery)',
  ]);
});

// Just enough of the Inventory for applyEvents: entries by job id with the seq compare-and-swap.
function buildMemoryInventory(): Inventory {
  const ves = new Map<string, VeRecord>();
  const history = new Set<string>();
  return createFakeInventory({
    getVe: (id) => Promise.resolve(ves.get(id)),
    listVes: () => Promise.resolve([...ves.values()]),
    createVe: (r) => { ves.set(r.jobId, r); return Promise.resolve(); },
    updateVe: (r, expected) => { if (ves.get(r.jobId)?.seq !== expected) return Promise.resolve(false); ves.set(r.jobId, r); return Promise.resolve(true); },
    addHistory: (h) => { const key = `${h.jobId}/${h.seq}`; const fresh = !history.has(key); history.add(key); return Promise.resolve(fresh); },
    listHistory: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  });
}
