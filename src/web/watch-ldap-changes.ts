// One loop for all browsers: the directory's change marker is read every interval while anybody listens,
// and every listener hears of a change once (server-sent events carry it on).
import type { Clock } from '../core/clock.js';

export interface ChangeWatcher {
  /** listener gets the new marker; returns the unsubscribe function */
  subscribe(listener: (marker: string) => void): () => void;
  listeners(): number;
  stop(): void;
}

export interface ChangeWatcherDeps {
  readonly readMarker: () => Promise<string>;
  readonly clock: Clock;
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

export function watchLdapChanges(deps: ChangeWatcherDeps): ChangeWatcher {
  const listeners = new Set<(marker: string) => void>();
  let last: string | undefined;
  let running = false;
  let stopped = false;
  let failing = false;
  // reads one after another, never overlapping: a slow directory slows the loop, it does not pile up requests
  const loop = async (): Promise<void> => {
    running = true;
    while (!stopped && listeners.size > 0) {
      try {
        const marker = await deps.readMarker();
        if (failing) deps.log('ve-monitor web: LDAP answers again');
        failing = false;
        if (last !== undefined && marker !== last) for (const l of [...listeners]) l(marker);
        last = marker;
      } catch (err) {
        if (!failing) deps.log(`ve-monitor web: change marker not read: ${(err as Error).message}`);
        failing = true;
      }
      await deps.clock.sleep(deps.intervalMs);
    }
    running = false;
  };
  return {
    subscribe(listener) {
      listeners.add(listener);
      if (!running && !stopped) void loop();
      return () => { listeners.delete(listener); };
    },
    listeners: () => listeners.size,
    stop() {
      stopped = true;
      listeners.clear();
    },
  };
}
