// What the short-lived vemon jobs and reconcile passes leave for the long-lived web console and /metrics:
// one small JSON file in <stateDir>/monitor, updated under a lock, read by `ve-monitor web`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withLockFile } from '../core/with-lock-file.js';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { monitorStateDir } from './check-monitor-account.js';

/** upper bounds (seconds) of the event lag histogram: host event time to LDAP apply */
export const LAG_BUCKETS_SECONDS: readonly number[] = [0.5, 1, 2, 5, 10, 30, 60, 300, 1800];
/** a drift report keeps at most this many items (the count says how many there were) */
const MAX_DRIFT_ITEMS = 200;

export interface StatsDriftItem {
  readonly jobId: string;
  readonly name: string;
  readonly finding: string;
  readonly from: string;
  readonly to: string;
  readonly detail: string;
  readonly changed: boolean;
}

export interface MonitorStats {
  readonly applied: number;
  readonly rejected: number;
  readonly stale: number;
  readonly duplicate: number;
  /** event lag histogram: counts per LAG_BUCKETS_SECONDS bound (not cumulative) plus the overflow last */
  readonly lagCounts: readonly number[];
  readonly lagSum: number;
  readonly lastApplyAt: string;
  readonly reconcileRuns: number;
  /** the last reconcile pass; absent before the first */
  readonly reconcile?: {
    readonly at: string;
    readonly durationSeconds: number;
    readonly driftCount: number;
    readonly orphans: number;
    readonly drift: readonly StatsDriftItem[];
  };
}

export const EMPTY_MONITOR_STATS: MonitorStats = {
  applied: 0, rejected: 0, stale: 0, duplicate: 0, lagCounts: LAG_BUCKETS_SECONDS.map(() => 0).concat(0), lagSum: 0, lastApplyAt: '', reconcileRuns: 0,
};

export interface ApplyStats {
  readonly applied: number;
  readonly rejected: number;
  readonly stale: number;
  readonly duplicate: number;
  /** one per applied VE event: seconds from its host time to the apply */
  readonly lagsSeconds: readonly number[];
}

// Counters only grow; a negative lag (a host clock ahead) counts as 0.
export function addApplyStats(stats: MonitorStats, run: ApplyStats, now: Date): MonitorStats {
  const lagCounts = [...stats.lagCounts];
  let lagSum = stats.lagSum;
  for (const raw of run.lagsSeconds) {
    const lag = Math.max(0, raw);
    const bucket = LAG_BUCKETS_SECONDS.findIndex((b) => lag <= b);
    const i = bucket === -1 ? LAG_BUCKETS_SECONDS.length : bucket;
    lagCounts[i] = (lagCounts[i] ?? 0) + 1;
    lagSum += lag;
  }
  return {
    ...stats, applied: stats.applied + run.applied, rejected: stats.rejected + run.rejected, stale: stats.stale + run.stale,
    duplicate: stats.duplicate + run.duplicate, lagCounts, lagSum, lastApplyAt: now.toISOString(),
  };
}

// The drift report of the newest pass replaces the older one.
export function addReconcileStats(stats: MonitorStats, run: { readonly durationSeconds: number; readonly drift: readonly StatsDriftItem[]; readonly orphans: number }, now: Date): MonitorStats {
  return {
    ...stats, reconcileRuns: stats.reconcileRuns + 1,
    reconcile: { at: now.toISOString(), durationSeconds: run.durationSeconds, driftCount: run.drift.length, orphans: run.orphans, drift: run.drift.slice(0, MAX_DRIFT_ITEMS) },
  };
}

export function monitorStatsPath(stateDir: string): string {
  return join(monitorStateDir(stateDir), 'stats.json');
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 500) : '');

// A missing or torn file reads as no statistics: the console must never fail for it.
export function parseMonitorStats(text: string): MonitorStats {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return EMPTY_MONITOR_STATS;
    raw = parsed as Record<string, unknown>;
  } catch {
    return EMPTY_MONITOR_STATS;
  }
  const counts = Array.isArray(raw['lagCounts']) && raw['lagCounts'].length === LAG_BUCKETS_SECONDS.length + 1 ? raw['lagCounts'].map(num) : EMPTY_MONITOR_STATS.lagCounts;
  const rec = typeof raw['reconcile'] === 'object' && raw['reconcile'] !== null ? raw['reconcile'] as Record<string, unknown> : undefined;
  const drift = rec !== undefined && Array.isArray(rec['drift']) ? (rec['drift'] as unknown[]).slice(0, MAX_DRIFT_ITEMS).map((d) => {
    const o = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    return { jobId: str(o['jobId']), name: str(o['name']), finding: str(o['finding']), from: str(o['from']), to: str(o['to']), detail: str(o['detail']), changed: o['changed'] === true };
  }) : [];
  return {
    applied: num(raw['applied']), rejected: num(raw['rejected']), stale: num(raw['stale']), duplicate: num(raw['duplicate']),
    lagCounts: counts, lagSum: num(raw['lagSum']), lastApplyAt: str(raw['lastApplyAt']), reconcileRuns: num(raw['reconcileRuns']),
    ...(rec === undefined ? {} : { reconcile: { at: str(rec['at']), durationSeconds: num(rec['durationSeconds']), driftCount: num(rec['driftCount']), orphans: num(rec['orphans']), drift } }),
  };
}

export function readMonitorStats(stateDir: string): MonitorStats {
  try {
    return parseMonitorStats(readFileSync(monitorStatsPath(stateDir), 'utf8'));
  } catch {
    return EMPTY_MONITOR_STATS;
  }
}

// Statistics never fail the work they describe: a lock that cannot be had or a full disk is logged and skipped.
export async function recordMonitorStats(stateDir: string, update: (stats: MonitorStats) => MonitorStats, log: (line: string) => void): Promise<void> {
  const file = monitorStatsPath(stateDir);
  try {
    await withLockFile(`${file}.lock`, 10_000, () => {
      // 0644: the web console may run as another account than the vemon jobs (the directory decides who reaches it)
      writeFileNoFollow(file, `${JSON.stringify(update(readMonitorStats(stateDir)))}\n`, { mode: 0o644 });
    });
  } catch (err) {
    log(`ve-monitor: statistics not recorded: ${(err as Error).message}`);
  }
}
