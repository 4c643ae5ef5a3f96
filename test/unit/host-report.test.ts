// Host reports (orphan domains): payload, signature, apply ordering, LDAP values, hook and reconcile.
import { createFakeEventSink } from '../fakes/fake-event-sink.js';
import { createFakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from 'ldapts';
import { encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { decodeHostReportObject, encodeHostReport, type HostReport } from '../../src/events/host-report.js';
import { decodeEventPayload } from '../../src/events/decode-event-payload.js';
import { ensureHostKey, openHostKeyring, readHostKey } from '../../src/events/host-key.js';
import { signEventLine, verifyEventLine } from '../../src/events/sign-event-line.js';
import { createEventSigner, createEventSink } from '../../src/events/event-sink.js';
import { openEventJournal } from '../../src/events/event-journal.js';
import { readEventLines } from '../../src/ve-monitor/read-event-lines.js';
import { checkEventClaims } from '../../src/ve-monitor/check-event-claims.js';
import { applyEvents } from '../../src/ve-monitor/apply-event.js';
import { listOrphanDomains } from '../../src/ve-monitor/list-orphan-domains.js';
import { decodeHostReportEntry, encodeHostFactsAttributes, encodeHostReportAttributes, formatOrphanValue, parseOrphanValue } from '../../src/inventory/host-report-entry.js';
import { journalOrphanReport } from '../../src/mom-hooks/journal-orphan-report.js';
import { readClusterView } from '../../src/ve-monitor/reconcile.js';
import { parseConfig } from '../../src/config/load-config.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import type { Batch, BatchJob, BatchNode } from '../../src/batch/batch.js';
import type { HandledOrphan } from '../../src/mom-hooks/handle-orphan-domains.js';
import type { EventSink } from '../../src/events/event-sink.js';

const event: VeEvent = {
  version: 1, jobId: '15', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-15', source: 'prologue', reason: 'domain running',
};
const report: HostReport = {
  kind: 'host-report', version: 1, host: 'node1', at: '2026-11-23T10:00:00.000Z',
  orphans: [{ domain: 'pbsve-77', state: 'running', firstSeen: '2026-11-23T09:58:00.000Z', outcome: 'kept' }],
};

const dir = mkdtempSync('/tmp/pbsve-hostreport-');
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
ensureHostKey(dir, 'node1');
ensureHostKey(dir, 'node2');
const keyring = openHostKeyring(dir);
const key1 = readHostKey(dir, 'node1');
const key2 = readHostKey(dir, 'node2');
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');

void t.test('a host report round-trips through the same signed line format; events decode as before', (t) => {
  const payload = encodeHostReport(report);
  t.same(decodeEventPayload(payload), report);
  t.same(decodeEventPayload(encodeVeEvent(event)), event, 'an event line (no kind) decodes exactly as an event');
  const line = signEventLine(payload, 'node1', key1);
  t.match(line, /^[A-Za-z0-9_-]+\.node1\.[0-9a-f]{64}$/);
  t.same(verifyEventLine(line, keyring), { payload, host: 'node1' });
  const read = readEventLines([signEventLine(encodeVeEvent(event), 'node1', key1), line].join('\n'), keyring);
  t.same(read, [event, report], 'events and host reports side by side in one vemon job');
  t.end();
});

void t.test('forged, wrong-host and malformed host reports are refused, line by line', (t) => {
  const payload = encodeHostReport(report);
  const good = signEventLine(payload, 'node1', key1);
  const forged = `${payload}.node1.${'0'.repeat(64)}`;
  const byOther = signEventLine(payload, 'node2', key2); // node2 speaking for node1
  const tampered = `${encodeHostReport({ ...report, orphans: [] })}.node1.${good.slice(good.lastIndexOf('.') + 1)}`;
  const bad = (o: Record<string, unknown>): string => signEventLine(b64({ ...report, ...o }), 'node1', key1);
  const results = readEventLines([
    good, forged, byOther, tampered,
    bad({ kind: 'host-reprt' }),
    bad({ version: 2 }),
    bad({ orphans: [{ ...report.orphans[0], domain: 'pbsve-1 x' }] }),
    bad({ orphans: [{ ...report.orphans[0], domain: 'evil-1' }] }),
    bad({ orphans: [{ ...report.orphans[0], outcome: 'eaten' }] }),
    bad({ orphans: [{ ...report.orphans[0], state: 'shut off' }] }),
    bad({ orphans: [{ ...report.orphans[0], firstSeen: 'yesterday' }] }),
    bad({ orphans: [report.orphans[0], report.orphans[0]] }),
    bad({ orphans: Array.from({ length: 33 }, (_, i) => ({ ...report.orphans[0], domain: `pbsve-${i}` })) }),
    bad({ host: 'node1\nx' }),
  ].join('\n'), keyring);
  t.same(results[0], report);
  const codes = results.slice(1).map((r) => (r instanceof VeError ? r.code : 'accepted'));
  t.same(codes, [
    'event-forged', 'event-host-mismatch', 'event-forged', 'invalid-event', 'invalid-host-report', 'invalid-host-report', 'invalid-host-report',
    'invalid-host-report', 'invalid-host-report', 'invalid-host-report', 'invalid-host-report', 'invalid-host-report', 'invalid-host-report',
  ]);
  t.same(checkEventClaims(results.slice(0, 1), []), [report], 'claims checks let host reports pass');
  t.end();
});

void t.test('the host signs a report only with its own key', (t) => {
  const sign = createEventSigner((h) => (h === 'node1' ? key1 : undefined));
  t.match(sign(encodeHostReport(report)), /\.node1\.[0-9a-f]{64}$/);
  t.throws(() => sign(encodeHostReport({ ...report, host: 'node2' })), { code: 'host-key-missing' });
  t.end();
});

// An in-memory store with LDAP's host-report contract: a report replaces only an older one.
function buildReportInventory(): Inventory & { stored: Map<string, HostReport> } {
  const stored = new Map<string, HostReport>();
  const unused = (): Promise<never> => Promise.reject(new Error('unused'));
  return createFakeInventory({
    stored,
    getVe: () => Promise.resolve(undefined), listVes: () => Promise.resolve([]), createVe: () => Promise.resolve(), updateVe: unused,
    addHistory: () => Promise.resolve(true), listHistory: () => Promise.resolve([]), close: () => Promise.resolve(),
    putHostReport: (r) => {
      const old = stored.get(r.host);
      if (old !== undefined && Date.parse(old.at) >= Date.parse(r.at)) return Promise.resolve('stale');
      stored.set(r.host, r);
      return Promise.resolve('applied');
    },
    listHostReports: () => Promise.resolve([...stored.values()]),
  });
}

void t.test('apply keeps the latest report per host, whatever the arrival order, and replays are stale', async (t) => {
  const later: HostReport = { ...report, at: '2026-11-23T10:05:00.000Z', orphans: [] };
  const inv = buildReportInventory();
  t.same(await applyEvents(inv, [later, report]), { applied: 2, stale: 0, duplicate: 0, rejected: [], failed: [], appliedAt: [] }, 'one batch, out of order: applied oldest first, so the later one stays');
  t.same(inv.stored.get('node1'), later);
  const other = buildReportInventory();
  t.equal((await applyEvents(other, [later])).applied, 1);
  t.equal((await applyEvents(other, [report])).stale, 1, 'an older report arriving later changes nothing');
  t.equal((await applyEvents(other, [later])).stale, 1, 'a replay changes nothing');
  t.same(other.stored.get('node1'), later);
  const down: Inventory = { ...buildReportInventory(), putHostReport: () => Promise.reject(new VeError('inventory-unavailable', 'environment', 'slapd down')) };
  await t.rejects(applyEvents(down, [report]), { code: 'inventory-unavailable' }, 'an outage is thrown: the spooled file is retried');
});

void t.test('LDAP values: one "<domain> <state> <firstSeen> <outcome>" per orphan, checked both ways', (t) => {
  const o = report.orphans[0];
  if (o === undefined) throw new Error('fixture');
  t.equal(formatOrphanValue(o), 'pbsve-77 running 2026-11-23T09:58:00.000Z kept');
  t.same(parseOrphanValue('pbsve-77 running 2026-11-23T09:58:00.000Z kept'), o);
  for (const bad of ['pbsve-77 running 2026-11-23T09:58:00.000Z', 'pbsve-77 running 2026-11-23T09:58:00.000Z kept x', 'x-77 running 2026-11-23T09:58:00.000Z kept', 'pbsve-77 running 2026-11-23T09:58:00.000Z eaten']) {
    t.equal(parseOrphanValue(bad), undefined, bad);
  }
  t.throws(() => formatOrphanValue({ ...o, domain: 'pbsve-1\nx' }), { code: 'invalid-field' });
  t.throws(() => formatOrphanValue({ ...o, state: 'shut off' }), { code: 'invalid-field' });
  const attrs = encodeHostReportAttributes(report);
  t.same(attrs, { pbsveOrphanDomain: ['pbsve-77 running 2026-11-23T09:58:00.000Z kept'], pbsveReportedAt: ['20261123100000.000Z'] });
  t.same(encodeHostReportAttributes({ ...report, orphans: [] }).pbsveOrphanDomain, [], 'no orphans: the replace removes every value');
  const entry = { dn: 'pbsveHostName=node1,ou=hosts,dc=x', pbsveHostName: 'node1', pbsveReportedAt: '20261123100000.000Z', pbsveOrphanDomain: attrs['pbsveOrphanDomain'] } as unknown as Entry;
  t.same(decodeHostReportEntry(entry), report);
  t.equal(decodeHostReportEntry({ dn: 'x', pbsveHostName: 'node1' }), undefined, 'a host that never reported');
  t.throws(() => decodeHostReportEntry({ ...entry, pbsveOrphanDomain: ['garbage'] }), /pbsveOrphanDomain/);
  t.end();
});

const job = (jobId: string, state: BatchJob['state'], execHosts: string[]): BatchJob => ({
  jobId, name: 'x', owner: 'user1', queue: 'batch', state, rawState: state.toUpperCase(), execHosts, startCount: 1,
} as unknown as BatchJob);
const node = (name: string, state: BatchNode['state']): BatchNode => ({ name, state, rawState: state, cpus: 2, memoryMiB: 1024, features: [], jobIds: [], note: undefined });

void t.test('reconcile lists each reported orphan with what happens to it; it destroys nothing', (t) => {
  const now = new Date('2026-11-23T10:04:00.000Z');
  const reports: HostReport[] = [
    { ...report, orphans: [
      { domain: 'pbsve-77', state: 'running', firstSeen: '2026-11-23T10:00:00.000Z', outcome: 'kept' },
      { domain: 'pbsve-78', state: 'running', firstSeen: '2026-11-23T09:50:00.000Z', outcome: 'kept' },
      { domain: 'pbsve-79', state: 'shutoff', firstSeen: '2026-11-23T09:40:00.000Z', outcome: 'destroyed' },
      { domain: 'pbsve-80', state: 'paused', firstSeen: '2026-11-23T09:40:00.000Z', outcome: 'destroy-failed' },
    ] },
    { ...report, host: 'node2', orphans: [{ domain: 'pbsve-90', state: 'running', firstSeen: '2026-11-23T09:00:00.000Z', outcome: 'kept' }] },
  ];
  const items = listOrphanDomains(reports, [job('78', 'running', ['node1']), job('77', 'running', ['node2'])], [node('node1', 'busy'), node('node2', 'down')], now, 600_000);
  t.same(items.map((i) => [i.host, i.domain, i.jobId, i.action, i.ageSeconds, i.stale, i.changed]), [
    ['node1', 'pbsve-77', '77', 'host-destroys', 240, false, false],
    ['node1', 'pbsve-78', '78', 'claimed', 840, false, false],
    ['node1', 'pbsve-79', '79', 'destroyed', 1440, false, false],
    ['node1', 'pbsve-80', '80', 'destroy-failed', 1440, false, false],
    ['node2', 'pbsve-90', '90', 'host-destroys', 3840, true, false],
  ]);
  t.match(items[0]?.detail, /node1 destroys it from 2026-11-23T10:10:00.000Z if still unclaimed; reconcile destroys nothing/);
  t.match(items[1]?.detail, /kept: job 78 claims it now/);
  t.match(items[4]?.detail, /^stale: node2 is down, last report 2026-11-23T10:00:00.000Z; node2 destroys it on its next pass \(grace over\)/);
  t.same(listOrphanDomains([], [], undefined, now, 600_000), []);
  const gone = listOrphanDomains(reports.slice(1), [], [node('node1', 'busy')], now, 600_000);
  t.match(gone[0], { stale: true, detail: /^stale: node2 is unknown to the batch system/ }, 'a host gone from the node listing');
  t.equal(listOrphanDomains(reports.slice(1), [], undefined, now, 600_000)[0]?.stale, false, 'nodes unreadable: nothing is judged stale');
  t.end();
});

void t.test('reconcile reads the host reports once; a failing listing leaves only them out', async (t) => {
  const inv = buildReportInventory();
  inv.stored.set('node1', report);
  const batch = { listJobs: () => Promise.resolve([]), listNodes: () => Promise.resolve([]) } as unknown as Batch;
  let calls = 0;
  const counted: Inventory = { ...inv, listHostReports: () => { calls++; return inv.listHostReports?.() ?? Promise.resolve([]); } };
  const view = await readClusterView({ inventory: counted, batch, clock: { now: () => new Date(), sleep: () => Promise.resolve() }, veQueue: 'batch' });
  t.same(view.hostReports, [report]);
  t.equal(calls, 1);
  const failing = await readClusterView({ inventory: { ...inv, listHostReports: () => Promise.reject(new Error('slapd says no')) }, batch, clock: { now: () => new Date(), sleep: () => Promise.resolve() }, veQueue: 'batch' });
  t.equal(failing.hostReports, undefined);
  t.equal(failing.hostReportsProblem, 'slapd says no');
  t.same(failing.ves, []);
});

void t.test('the hook journals a report only when the orphan set or an outcome changed, empty included', async (t) => {
  const d = mkdtempSync('/tmp/pbsve-orphanreport-');
  t.teardown(() => { rmSync(d, { recursive: true, force: true }); });
  const recorded: HostReport[] = [];
  const events: EventSink = createFakeEventSink({ emit: () => Promise.reject(new Error('unused')), flush: () => Promise.reject(new Error('unused')), recordHostReport: (r) => { recorded.push(r); } });
  let clockMs = Date.parse('2026-11-23T10:00:00.000Z');
  // orphans only, as an older host sends them (the facts and the heartbeat have their own test)
  const deps = { stateDir: d, events, clock: { now: () => new Date(clockMs), sleep: () => Promise.resolve() }, log: () => undefined, facts: undefined };
  const orphan = (domain: string, outcome: HandledOrphan['outcome']): HandledOrphan => ({
    host: 'node1', domain, jobId: domain.slice(6), state: 'running', firstSeen: '2026-11-23T09:59:00.000Z', action: 'report', reason: 'r', outcome,
  });
  t.equal(journalOrphanReport('node1', [], deps), undefined, 'a quiet host sends nothing');
  t.ok(journalOrphanReport('node1', [orphan('pbsve-5', 'kept')], deps));
  clockMs += 10_000;
  t.equal(journalOrphanReport('node1', [orphan('pbsve-5', 'kept')], deps), undefined, 'same set: nothing');
  t.ok(journalOrphanReport('node1', [orphan('pbsve-5', 'destroyed')], deps), 'an outcome changed');
  clockMs += 10_000;
  const empty = journalOrphanReport('node1', [], deps);
  t.same(empty?.orphans, [], 'becoming empty is reported');
  t.equal(journalOrphanReport('node1', [orphan('pbsve-bad name', 'kept')], deps), undefined, 'an odd name stays in the log only');
  t.equal(recorded.length, 3);
  t.ok(recorded.every((r) => r.host === 'node1'));

  // through the real sink: journalled as a plain payload, signed at send time, one vemon job
  ensureHostKey(join(d, 'etc'), 'node1');
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir: join(d, 'state'), installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  const scripts: string[] = [];
  const batch = { submit: (r: { script: string }) => { scripts.push(r.script); return Promise.resolve('501'); } } as unknown as Batch;
  const sink = createEventSink({ batch, journal: openEventJournal(join(d, 'state/journal/events.log')), config, configDir: join(d, 'etc'), log: () => undefined, sign: createEventSigner(openHostKeyring(join(d, 'etc'))), vemonOutputPath: () => '/dev/null' });
  sink.recordHostReport?.(report);
  t.same(await sink.flush(), { sent: 1, pending: 0 });
  const line = (scripts[0] ?? '').split('\n').find((l) => /\.node1\.[0-9a-f]{64}$/.test(l)) ?? '';
  t.same(readEventLines(line, openHostKeyring(join(d, 'etc'))), [report]);
});

void t.test('host facts: the first run reports them (the host entry appears), then on change, and hourly as a heartbeat', (t) => {
  const d = mkdtempSync('/tmp/pbsve-hostfacts-');
  t.teardown(() => { rmSync(d, { recursive: true, force: true }); });
  const recorded: HostReport[] = [];
  const events: EventSink = createFakeEventSink({ emit: () => Promise.reject(new Error('unused')), flush: () => Promise.reject(new Error('unused')), recordHostReport: (r) => { recorded.push(r); } });
  let clockMs = Date.parse('2026-12-02T08:00:00.000Z');
  const facts = { cpus: 8, memoryMiB: 16_000, types: ['lxc', 'kvm'] as const };
  const deps = { stateDir: d, events, clock: { now: () => new Date(clockMs), sleep: () => Promise.resolve() }, log: () => undefined, facts: { ...facts, types: [...facts.types] } };
  t.same(journalOrphanReport('node1', [], deps)?.facts, { cpus: 8, memoryMiB: 16_000, types: ['lxc', 'kvm'] }, 'a quiet host reports itself once');
  clockMs += 60_000;
  t.equal(journalOrphanReport('node1', [], deps), undefined, 'nothing new a minute later');
  t.ok(journalOrphanReport('node1', [], { ...deps, facts: { ...deps.facts, memoryMiB: 32_000 } }), 'more memory: reported');
  clockMs += 3_600_000;
  t.equal(journalOrphanReport('node1', [], { ...deps, facts: { ...deps.facts, memoryMiB: 32_000 } })?.at, '2026-12-02T09:01:00.000Z', 'an hour later: the heartbeat');
  t.equal(recorded.length, 3);
  // the line the monitor decodes keeps the facts, bounded
  const decoded = decodeHostReportObject(JSON.parse(JSON.stringify(recorded[0])) as Record<string, unknown>);
  t.same(decoded.facts, { cpus: 8, memoryMiB: 16_000, types: ['lxc', 'kvm'] });
  const bad = (facts: unknown): Record<string, unknown> => ({ ...(JSON.parse(JSON.stringify(recorded[0])) as Record<string, unknown>), facts });
  t.throws(() => decodeHostReportObject(bad({ cpus: -1, memoryMiB: 1, types: [] })), { code: 'invalid-host-report', field: 'facts.cpus' });
  t.throws(() => decodeHostReportObject(bad({ cpus: 1, memoryMiB: 2 ** 60, types: [] })), { code: 'invalid-host-report', field: 'facts.memoryMiB' });
  t.throws(() => decodeHostReportObject(bad({ cpus: 1, memoryMiB: 1, types: ['xen'] })), { code: 'invalid-host-report', field: 'facts.types' });
  t.same(encodeHostFactsAttributes(decoded), { pbsveState: ['up'], pbsveCpus: ['8'], pbsveMemoryMiB: ['16000'], pbsveHypervisorType: ['lxc', 'kvm'], pbsveLastHeartbeat: ['20261202080000.000Z'] });
  t.same(encodeHostFactsAttributes({ kind: decoded.kind, version: 1, host: decoded.host, at: decoded.at, orphans: [] }), {}, 'an older host\'s report leaves the entry\'s own attributes alone');
  t.end();
});
