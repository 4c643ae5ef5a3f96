import { VeError } from '../core/ve-error.js';
import { applyEvents } from './apply-event.js';
import type { EventSpool } from './event-spool.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Clock } from '../core/clock.js';
import type { VeEvent } from '../core/ve-event.js';
import type { EventPayload } from '../events/decode-event-payload.js';

export interface DrainEventSpoolDeps {
  readonly spool: EventSpool;
  /** a fresh connection per attempt: a restarted slapd is reached again */
  readonly openInventory: () => Inventory;
  /** verifies the spooled lines again (signature, decoding) */
  readonly readLines: (lines: readonly string[]) => (EventPayload | VeError)[];
  /** checks the claims against the batch system (createClaimChecker); throws when it cannot, and
   *  then the file stays spooled: an event is never applied with its claim unchecked */
  readonly checkClaims: (events: readonly (EventPayload | VeError)[]) => Promise<(EventPayload | VeError)[]>;
  /** lines refused when applied (claims the batch system contradicts, bad lines): for the rejection log */
  readonly recordRejected?: (file: string, rejected: readonly { line: number; code: string; message: string }[], lines: readonly string[]) => void;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

export interface DrainEventSpoolOptions {
  /** how long LDAP may stay unreachable before this run gives up (its files stay spooled) */
  readonly waitMs: number;
  /** first pause between attempts; doubles up to maxBackoffMs */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface DrainEventSpoolReport {
  readonly files: number;
  readonly applied: number;
  readonly stale: number;
  readonly duplicate: number;
  readonly rejected: number;
  /** files still spooled: LDAP down past waitMs, or held by another live vemon job */
  readonly left: number;
  readonly quarantined: readonly string[];
  /** applied events that made a VE failed: each is worth an alert */
  readonly failed: readonly VeEvent[];
  /** one per applied VE event: seconds from its host time to its apply (the event lag) */
  readonly lagsSeconds: readonly number[];
  /** why this run stopped early, when it did */
  readonly problem?: string;
}

// An outage (slapd down, restarting, refusing binds; a batch system that cannot check claims) is worth waiting for; anything else is not.
function isOutage(err: unknown): boolean {
  return err instanceof VeError && err.kind === 'environment';
}

/**
 * Applies every spooled file, oldest first, and removes each once LDAP holds all of its events.
 * LDAP unreachable: retried with exponential backoff until waitMs is spent, then the run stops and
 * the files stay for the next vemon job or reconcile pass. Applying twice is harmless (idempotent per
 * job and seq), so a file half-applied before an outage is simply applied again.
 */
export async function drainEventSpool(deps: DrainEventSpoolDeps, options: DrainEventSpoolOptions): Promise<DrainEventSpoolReport> {
  const deadline = deps.clock.now().getTime() + options.waitMs;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let backoff = options.backoffMs ?? 1000;
  let files = 0, applied = 0, stale = 0, duplicate = 0, rejected = 0, left = 0;
  const quarantined: string[] = [];
  const failed: VeEvent[] = [];
  const lagsSeconds: number[] = [];
  const names = deps.spool.list();
  for (let i = 0; i < names.length; i++) {
    const name = names[i] ?? '';
    const release = deps.spool.tryLock(name);
    if (release === undefined) {
      left++;
      continue;
    }
    try {
      let lines: string[];
      try {
        lines = deps.spool.read(name);
      } catch {
        continue; // applied and removed by another run between list and lock
      }
      let events: (EventPayload | VeError)[];
      try {
        events = await deps.checkClaims(deps.readLines(lines));
      } catch (err) {
        const message = (err as Error).message;
        deps.log(`ve-monitor: ${names.length - i} spooled file(s) left, claims not checked: ${message}`);
        return { files, applied, stale, duplicate, rejected, left: left + names.length - i, quarantined, failed, lagsSeconds, problem: message };
      }
      for (;;) {
        const inventory = deps.openInventory();
        try {
          const report = await applyEvents(inventory, events);
          deps.spool.remove(name);
          files++;
          applied += report.applied;
          stale += report.stale;
          duplicate += report.duplicate;
          rejected += report.rejected.length;
          failed.push(...report.failed);
          const appliedMs = deps.clock.now().getTime();
          lagsSeconds.push(...report.appliedAt.map((at) => (appliedMs - Date.parse(at)) / 1000).filter((lag) => Number.isFinite(lag)));
          for (const r of report.rejected) deps.log(`ve-monitor: spooled line ${r.line} of ${name} rejected: ${r.code}: ${r.message}`);
          if (report.rejected.length > 0) deps.recordRejected?.(name, report.rejected, lines);
          break;
        } catch (err) {
          const message = (err as Error).message;
          if (!isOutage(err)) {
            const target = deps.spool.quarantine(name);
            quarantined.push(target);
            deps.log(`ve-monitor: ${name} cannot be applied (${message}); moved to ${target}`);
            break;
          }
          if (deps.clock.now().getTime() + backoff > deadline) {
            deps.log(`ve-monitor: LDAP still unavailable, ${names.length - i} spooled file(s) left for the next vemon job or reconcile: ${message}`);
            return { files, applied, stale, duplicate, rejected, left: left + names.length - i, quarantined, failed, lagsSeconds, problem: message };
          }
          deps.log(`ve-monitor: LDAP unavailable, retrying in ${backoff} ms: ${message}`);
          await deps.clock.sleep(backoff);
          backoff = Math.min(backoff * 2, maxBackoff);
        } finally {
          await inventory.close().catch(() => undefined);
        }
      }
    } finally {
      release();
    }
  }
  return { files, applied, stale, duplicate, rejected, left, quarantined, failed, lagsSeconds };
}
