import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { dirname, join } from 'node:path';
import { runCommand as defaultRunCommand, type RunCommand } from '../core/run-command.js';
import type { Clock } from '../core/clock.js';

/** One fault worth an administrator's attention; (kind, key) names it for de-duplication. */
export interface Alert {
  /** host-down, host-fenced, fence-failed, requeue-failed ... */
  readonly kind: string;
  /** the host or job id the fault is about */
  readonly key: string;
  readonly text: string;
}

export type AlertOutcome = 'sent' | 'duplicate' | 'rate-limited' | 'no-command' | 'failed';

export interface AlertSenderOptions {
  /** absolute path + arguments (config alertCommand); undefined: alerts are only logged */
  readonly command: readonly string[] | undefined;
  /** JSON state: when each (kind, key) was last sent, and the recent send times */
  readonly stateFile: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** the same (kind, key) is sent again only after this long; default 6 h */
  readonly repeatAfterMs?: number;
  /** at most maxPerWindow alerts in any windowMs; default 10 per hour */
  readonly maxPerWindow?: number;
  readonly windowMs?: number;
  readonly run?: RunCommand;
  readonly timeoutMs?: number;
}

interface AlertState {
  /** "<kind> <key>" -> ISO time last sent */
  readonly last: Record<string, string>;
  /** ISO times of the sends inside the window */
  readonly recent: string[];
}

// A missing or torn state file must not silence alerts forever: it starts afresh.
function readAlertState(file: string): AlertState {
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<AlertState>;
    const last = typeof raw.last === 'object' && raw.last !== null ? raw.last : {};
    const recent = Array.isArray(raw.recent) ? raw.recent.filter((s): s is string => typeof s === 'string') : [];
    return { last: { ...last }, recent };
  } catch {
    return { last: {}, recent: [] };
  }
}

// Atomic replace: a crash mid-write leaves the old state, not half a file; expired entries are dropped.
function writeAlertState(file: string, state: AlertState, now: Date, repeatAfterMs: number): void {
  const last = Object.fromEntries(Object.entries(state.last).filter(([, at]) => now.getTime() - Date.parse(at) < repeatAfterMs));
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileNoFollow(file, `${JSON.stringify({ last, recent: state.recent })}\n`, { mode: 0o600 });
}

/**
 * The alert path of the monitor: the same fault seen by many passes (or many hooks) becomes one alert
 * per repeatAfterMs, and a storm (a rack going down) is cut to maxPerWindow so the admins' mail survives.
 * The text goes on stdin, never on the command line: it holds host and job names.
 */
export function createAlertSender(options: AlertSenderOptions): (alert: Alert) => Promise<AlertOutcome> {
  const repeatAfterMs = options.repeatAfterMs ?? 6 * 3600_000;
  const maxPerWindow = options.maxPerWindow ?? 10;
  const windowMs = options.windowMs ?? 3600_000;
  const run = options.run ?? defaultRunCommand;
  return async (alert) => {
    const now = options.clock.now();
    const id = `${alert.kind} ${alert.key}`;
    const state = readAlertState(options.stateFile);
    const last = Date.parse(state.last[id] ?? '');
    if (!Number.isNaN(last) && now.getTime() - last < repeatAfterMs) return 'duplicate';
    const recent = state.recent.filter((s) => now.getTime() - Date.parse(s) < windowMs);
    if (recent.length >= maxPerWindow) {
      options.log(`ve-monitor: alert rate limit (${maxPerWindow} per ${Math.round(windowMs / 1000)} s) reached, not sent: ${alert.kind} ${alert.key}: ${alert.text}`);
      return 'rate-limited';
    }
    const [file, ...args] = options.command ?? [];
    if (file === undefined) {
      options.log(`ve-monitor: alert (no alertCommand configured): ${alert.kind} ${alert.key}: ${alert.text}`);
      writeAlertState(options.stateFile, { last: { ...state.last, [id]: now.toISOString() }, recent }, now, repeatAfterMs);
      return 'no-command';
    }
    try {
      const result = await run(file, args, {
        input: `${alert.text}\n`, timeoutMs: options.timeoutMs ?? 30_000, env: { PBS_VE_ALERT_KIND: alert.kind, PBS_VE_ALERT_KEY: alert.key },
      });
      if (result.exitCode !== 0) {
        options.log(`ve-monitor: alert command ${file} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 200)}`);
        return 'failed';
      }
    } catch (err) {
      options.log(`ve-monitor: alert command ${file}: ${err instanceof Error ? err.message : String(err)}`);
      return 'failed';
    }
    // only a delivered alert counts: a failed one is tried again on the next pass
    writeAlertState(options.stateFile, { last: { ...state.last, [id]: now.toISOString() }, recent: [...recent, now.toISOString()] }, now, repeatAfterMs);
    return 'sent';
  };
}

/** An alert raised (sent, or logged without an alertCommand) within the repeat window. */
export interface RaisedAlert {
  readonly kind: string;
  readonly key: string;
  /** ISO 8601 of the last time it was raised */
  readonly at: string;
}

// The web console and /metrics show what the alert state file remembers (the last 6 h by default).
export function listRaisedAlerts(stateFile: string): RaisedAlert[] {
  return Object.entries(readAlertState(stateFile).last).filter(([, at]) => typeof at === 'string').map(([id, at]) => {
    const space = id.indexOf(' ');
    return { kind: space < 0 ? id : id.slice(0, space), key: space < 0 ? '' : id.slice(space + 1), at };
  });
}

export function alertStateFile(stateDir: string): string {
  return join(stateDir, 'monitor', 'alerts.json');
}
