// Sessions, the shared change loop, the statistics file and the metrics text.
import t from 'tap';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSessionStore } from '../../src/web/session-store.js';
import { watchLdapChanges } from '../../src/web/watch-ldap-changes.js';
import { renderMetrics } from '../../src/web/render-metrics.js';
import { renderClusters } from '../../src/web/render-clusters.js';
import { EMPTY_MONITOR_STATS, addApplyStats, addReconcileStats, parseMonitorStats, readMonitorStats, recordMonitorStats } from '../../src/ve-monitor/monitor-stats.js';
import type { Clock } from '../../src/core/clock.js';
import type { VeRecord } from '../../src/inventory/inventory.js';

function manualClock(start: number): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => new Date(now), sleep: () => new Promise((r) => setImmediate(r)), advance: (ms) => { now += ms; } };
}

void t.test('sessions: random ids, expiry, logout', (t) => {
  const clock = manualClock(1_000_000);
  const store = createSessionStore(clock, 60_000);
  const a = store.create('alice', false);
  const b = store.create('carol', true);
  t.not(a, b);
  t.match(a, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
  t.same(store.get(a), { user: 'alice', admin: false, expires: 1_060_000 });
  t.equal(store.get('forged'), undefined);
  store.drop(b);
  t.equal(store.get(b), undefined);
  clock.advance(60_000);
  t.equal(store.get(a), undefined, 'expired');
  t.end();
});

void t.test('one change loop for all listeners; each hears a change once; reads stop without listeners', async (t) => {
  const markers = ['c1', 'c1', 'c2', 'c2', 'c3'];
  let reads = 0;
  const watcher = watchLdapChanges({ readMarker: () => Promise.resolve(markers[Math.min(reads++, markers.length - 1)] ?? ''), clock: manualClock(0), intervalMs: 1, log: () => undefined });
  const heardA: string[] = [];
  const heardB: string[] = [];
  const offA = watcher.subscribe((m) => heardA.push(m));
  const offB = watcher.subscribe((m) => heardB.push(m));
  while (reads < 6) await new Promise((r) => setImmediate(r));
  t.same(heardA, ['c2', 'c3']);
  t.same(heardB, ['c2', 'c3']);
  offA();
  offB();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const after = reads;
  await new Promise((r) => setTimeout(r, 20));
  t.ok(reads <= after + 1, 'no reads without listeners');
  watcher.stop();
});

void t.test('statistics: counters add up, lags fall into buckets, a torn file reads as empty', async (t) => {
  let s = addApplyStats(EMPTY_MONITOR_STATS, { applied: 3, rejected: 1, stale: 0, duplicate: 2, lagsSeconds: [0.2, 1.5, 4000, -3] }, new Date('2026-01-01T00:00:00Z'));
  t.equal(s.applied, 3);
  t.equal(s.rejected, 1);
  t.same(s.lagCounts, [2, 0, 1, 0, 0, 0, 0, 0, 0, 1], 'a negative lag (host clock ahead) counts as 0');
  t.equal(s.lagSum, 4001.7);
  s = addReconcileStats(s, { durationSeconds: 0.5, orphans: 1, drift: [{ jobId: '7', name: 'w', finding: 'job-gone', from: 'running', to: 'lost', detail: 'd', changed: true }] }, new Date('2026-01-01T00:01:00Z'));
  t.equal(s.reconcile?.driftCount, 1);
  t.same(parseMonitorStats(JSON.stringify(s)), s, 'round trip');
  t.same(parseMonitorStats('{"applied": -5, "lagCounts": [1]'), EMPTY_MONITOR_STATS);
  t.equal(parseMonitorStats('{"applied": -5}').applied, 0);
  const dir = mkdtempSync(join(tmpdir(), 'pbsve-stats-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  mkdirSync(join(dir, 'monitor'));
  await recordMonitorStats(dir, (old) => addApplyStats(old, { applied: 1, rejected: 0, stale: 0, duplicate: 0, lagsSeconds: [0.1] }, new Date()), () => undefined);
  await recordMonitorStats(dir, (old) => addApplyStats(old, { applied: 1, rejected: 0, stale: 0, duplicate: 0, lagsSeconds: [0.1] }, new Date()), () => undefined);
  t.equal(readMonitorStats(dir).applied, 2);
  writeFileSync(join(dir, 'monitor', 'stats.json'), 'garbage');
  t.equal(readMonitorStats(dir).applied, 0);
  const logged: string[] = [];
  await recordMonitorStats(join(dir, 'missing'), (old) => old, (l) => logged.push(l));
  t.match(logged[0] ?? '', /statistics not recorded/, 'never throws');
});

void t.test('metrics: VEs by state/type/host, the lag histogram from stored buckets, queue, hosts, alerts', async (t) => {
  const ve = (jobId: string, state: VeRecord['state'], host: string): VeRecord => ({ jobId, name: `n${jobId}`, owner: 'o', type: 'lxc', image: 'i', vcpus: 1, memoryMiB: 64, state, host, domain: '', seq: 1, lastChange: '' });
  const stats = addReconcileStats(addApplyStats(EMPTY_MONITOR_STATS, { applied: 5, rejected: 2, stale: 1, duplicate: 0, lagsSeconds: [0.3, 0.7, 3] }, new Date()), { durationSeconds: 1.25, orphans: 0, drift: [] }, new Date('2026-01-01T00:00:00Z'));
  const job = (state: 'queued' | 'running'): never => ({ state }) as never;
  const out = await renderMetrics({
    ves: [ve('1', 'running', 'node1'), ve('2', 'running', 'node1'), ve('3', 'stopped', 'node2')], stats,
    vemonJobs: [job('queued'), job('queued'), job('running')],
    nodes: [{ name: 'node1', state: 'free' } as never, { name: 'node2', state: 'down' } as never],
    alerts: [{ kind: 've-failed', key: '9', at: '2026-01-01T00:00:00Z' }],
  });
  t.match(out.contentType, /^text\/plain/);
  const text = out.text;
  t.match(text, /pbsve_ves\{state="running",type="lxc",host="node1"\} 2/);
  t.match(text, /pbsve_ves\{state="stopped",type="lxc",host="node2"\} 1/);
  t.match(text, /# TYPE pbsve_event_lag_seconds histogram/);
  t.match(text, /pbsve_event_lag_seconds_bucket\{le="0.5"\} 1\n/);
  t.match(text, /pbsve_event_lag_seconds_bucket\{le="1"\} 2\n/);
  t.match(text, /pbsve_event_lag_seconds_bucket\{le="5"\} 3\n/);
  t.match(text, /pbsve_event_lag_seconds_bucket\{le="\+Inf"\} 3\n/);
  t.match(text, /pbsve_event_lag_seconds_count 3\n/);
  t.match(text, /pbsve_events_applied_total 5\n/);
  t.match(text, /pbsve_events_rejected_total 2\n/);
  t.match(text, /pbsve_vemon_queue_jobs\{state="queued"\} 2\n/);
  t.match(text, /pbsve_reconcile_duration_seconds 1.25\n/);
  t.match(text, /pbsve_reconcile_drift_items 0\n/);
  t.match(text, /pbsve_host_up\{host="node2",state="down"\} 0\n/);
  t.match(text, /pbsve_alerts_raised\{kind="ve-failed"\} 1\n/);
  t.match(text, /pbsve_ldap_up 1\n/);
  const down = await renderMetrics({ ves: undefined, stats: EMPTY_MONITOR_STATS, vemonJobs: undefined, nodes: undefined, alerts: [] });
  t.match(down.text, /pbsve_ldap_up 0\n/);
  t.match(down.text, /pbsve_batch_up 0\n/);
  t.notMatch(down.text, /pbsve_reconcile_duration_seconds/, 'no reconcile yet: no made-up figure');
});

void t.test('cluster view: members grouped by cluster and owner (two owners\' "lab" stay apart), roles shown, names escaped', (t) => {
  const base: VeRecord = { jobId: '1.srv', name: 'lab-head', owner: 'alice', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running', host: 'node1', domain: 'pbsve-1.srv', seq: 1, lastChange: '' };
  const ves: VeRecord[] = [
    { ...base, cluster: { name: 'lab', role: 'head' } },
    { ...base, jobId: '2.srv', name: 'lab-c1', cluster: { name: 'lab', role: 'c' } },
    { ...base, jobId: '3.srv', owner: 'bob', name: 'lab-head', cluster: { name: 'lab', role: 'head' } },
    { ...base, jobId: '4.srv', name: 'solo<b>' },
  ];
  const page = renderClusters(ves).toString();
  t.equal((page.match(/<section class="cluster"/g) ?? []).length, 2, 'alice\'s lab and bob\'s lab');
  t.match(page, /data-cluster="lab\.alice"[\s\S]*lab-c1[\s\S]*lab-head/, 'alice\'s members, sorted by name');
  t.match(page, /data-cluster="lab\.bob"/);
  t.notMatch(page, /solo/, 'a VE of no cluster is not listed');
  t.match(renderClusters([{ ...base }]).toString(), /id="no-clusters"/);
  t.end();
});
