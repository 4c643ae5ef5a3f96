// /metrics in the Prometheus text format, rebuilt from what was read for this scrape (prom-client renders it).
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { BatchJob, BatchNode } from '../batch/batch.js';
import type { VeRecord } from '../inventory/inventory.js';
import { LAG_BUCKETS_SECONDS, type MonitorStats } from '../ve-monitor/monitor-stats.js';
import type { RaisedAlert } from '../ve-monitor/send-alert.js';

export interface MetricsInput {
  /** live VEs in LDAP; undefined: LDAP did not answer */
  readonly ves: readonly VeRecord[] | undefined;
  readonly stats: MonitorStats;
  /** jobs in the vemon queue; undefined: the batch system did not answer */
  readonly vemonJobs: readonly BatchJob[] | undefined;
  /** the VE hosts as the batch system sees them; undefined: not answered */
  readonly nodes: readonly BatchNode[] | undefined;
  readonly alerts: readonly RaisedAlert[];
}

const HISTOGRAM_HELP = 'Event lag: seconds from the time a host observed a VE state change to its apply in LDAP (ve-monitor apply)';

// The vemon jobs that applied events are gone; their counts live in the stats file, so the histogram is
// rebuilt from stored bucket counts rather than observed here (prom-client's Histogram can only observe).
function lagHistogram(stats: MonitorStats): Metric {
  const name = 'pbsve_event_lag_seconds';
  let cumulative = 0;
  const buckets = LAG_BUCKETS_SECONDS.map((le, i) => {
    cumulative += stats.lagCounts[i] ?? 0;
    return { metricName: `${name}_bucket`, labels: { le }, value: cumulative };
  });
  const count = cumulative + (stats.lagCounts[LAG_BUCKETS_SECONDS.length] ?? 0);
  const values = [...buckets, { metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count },
    { metricName: `${name}_sum`, labels: {}, value: stats.lagSum }, { metricName: `${name}_count`, labels: {}, value: count }];
  const metric = { name, help: HISTOGRAM_HELP, type: 'histogram', aggregator: 'sum', get: () => Promise.resolve({ name, help: HISTOGRAM_HELP, type: 'histogram', aggregator: 'sum', values }), reset: () => undefined };
  return metric as unknown as Metric;
}

function counter(registry: Registry, name: string, help: string, value: number): void {
  new Counter({ name, help, registers: [registry] }).inc(value);
}

function gauge(registry: Registry, name: string, help: string, labelNames: readonly string[] = []): Gauge {
  return new Gauge({ name, help, labelNames: [...labelNames], registers: [registry] });
}

export async function renderMetrics(input: MetricsInput): Promise<{ readonly contentType: string; readonly text: string }> {
  const registry = new Registry();
  gauge(registry, 'pbsve_ldap_up', '1 when the inventory (LDAP) answered this scrape').set(input.ves === undefined ? 0 : 1);
  const ves = gauge(registry, 'pbsve_ves', 'Live VEs in the inventory by state, type and host', ['state', 'type', 'host']);
  const byKey = new Map<string, { state: string; type: string; host: string; n: number }>();
  for (const ve of input.ves ?? []) {
    const key = `${ve.state}\u0000${ve.type}\u0000${ve.host}`;
    const entry = byKey.get(key) ?? { state: ve.state, type: ve.type, host: ve.host, n: 0 };
    entry.n++;
    byKey.set(key, entry);
  }
  for (const e of byKey.values()) ves.set({ state: e.state, type: e.type, host: e.host }, e.n);
  registry.registerMetric(lagHistogram(input.stats));
  counter(registry, 'pbsve_events_applied_total', 'Events and host reports applied to LDAP by ve-monitor', input.stats.applied);
  counter(registry, 'pbsve_events_rejected_total', 'Event lines rejected (bad signature, claims the batch system contradicts, malformed)', input.stats.rejected);
  counter(registry, 'pbsve_events_stale_total', 'Events older than what LDAP holds (not applied, no harm)', input.stats.stale);
  counter(registry, 'pbsve_events_duplicate_total', 'Events LDAP held already (a resend)', input.stats.duplicate);
  gauge(registry, 'pbsve_batch_up', '1 when the batch system answered this scrape').set(input.vemonJobs === undefined || input.nodes === undefined ? 0 : 1);
  const queue = gauge(registry, 'pbsve_vemon_queue_jobs', 'Jobs in the vemon queue (event deliveries) by state', ['state']);
  for (const state of ['queued', 'held', 'running']) queue.set({ state }, (input.vemonJobs ?? []).filter((j) => j.state === state).length);
  const r = input.stats.reconcile;
  counter(registry, 'pbsve_reconcile_runs_total', 'Reconcile passes recorded', input.stats.reconcileRuns);
  if (r !== undefined) {
    gauge(registry, 'pbsve_reconcile_duration_seconds', 'Duration of the last reconcile pass').set(r.durationSeconds);
    gauge(registry, 'pbsve_reconcile_drift_items', 'Drift items the last reconcile pass found').set(r.driftCount);
    gauge(registry, 'pbsve_reconcile_orphan_domains', 'Orphan domains hosts reported, as of the last reconcile pass').set(r.orphans);
    const at = Date.parse(r.at);
    if (Number.isFinite(at)) gauge(registry, 'pbsve_reconcile_last_run_timestamp_seconds', 'Unix time of the last reconcile pass').set(at / 1000);
  }
  const hosts = gauge(registry, 'pbsve_host_up', 'VE host health: 1 when the batch system has it free or busy, 0 when down, offline (drained) or unknown', ['host', 'state']);
  for (const n of input.nodes ?? []) hosts.set({ host: n.name, state: n.state }, n.state === 'free' || n.state === 'busy' ? 1 : 0);
  const alerts = gauge(registry, 'pbsve_alerts_raised', 'Alerts raised within the repeat window (6 h) by kind', ['kind']);
  const kinds = new Map<string, number>();
  for (const a of input.alerts) kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
  for (const [kind, n] of kinds) alerts.set({ kind }, n);
  return { contentType: registry.contentType, text: await registry.metrics() };
}
