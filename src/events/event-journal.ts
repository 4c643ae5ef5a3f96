import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The host's append-only event journal, root-only, fsync'd:
 * - `E <id> <event>` when an event is recorded;
 * - `S <id> <vemon job> <ms>` when the batch system accepted the vemon job carrying it (handed over,
 *   not yet delivered: a vemon job can still fail to start, e.g. an account without a login shell);
 * - `C <vemon job>` once that job is known to have run `ve-monitor apply` (the vemon side has its events);
 * - `R <vemon job>` when it ended without delivering them: its events are pending again.
 * `S <id> <vemon job>` without a time (journals of older versions) counts as delivered.
 */
export interface EventJournal {
  append(encodedEvents: readonly string[]): void;
  /** events to send: never handed over, or handed over to a vemon job that failed (resent with a backoff,
   *  see resendDelayMs); oldest first */
  pending(now?: Date): { id: string; event: string }[];
  markSent(ids: readonly string[], jobId: string, at?: Date): void;
  /** vemon jobs whose delivery is not known yet, oldest first */
  unconfirmed(): { jobId: string; sentAt: number; events: number }[];
  /** the vemon job ran ve-monitor apply: its events are the vemon side's now */
  confirm(jobId: string): void;
  /** the vemon job ended without delivering: its events go out again */
  retract(jobId: string): void;
}

function appendLines(file: string, lines: readonly string[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'a', 0o600);
  try {
    writeSync(fd, lines.map((l) => `${l}\n`).join(''));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** the longest pause between two sends of an event whose vemon jobs keep failing */
export const MAX_RESEND_DELAY_MS = 3_600_000;

// The first resend goes at once; after that 1, 2, 4 ... minutes, at most an hour: a batch system that
// forgets finished jobs at once (TORQUE without keep_completed) or an event account that cannot run
// jobs must not turn every event into one vemon job per host per minute, forever.
export function resendDelayMs(failedSends: number): number {
  return failedSends <= 1 ? 0 : Math.min(MAX_RESEND_DELAY_MS, 60_000 * 2 ** (failedSends - 2));
}

interface JournalState {
  /** recorded events not yet known delivered, in journal order */
  readonly recorded: Map<string, string>;
  /** the vemon job (and when) each handed-over event went with, latest hand-over only */
  readonly sentTo: Map<string, { jobId: string; at: number }>;
  /** how many vemon jobs each event went with */
  readonly sends: Map<string, string[]>;
  readonly confirmed: Set<string>;
  readonly retracted: Set<string>;
}

// One pass over the file; later lines win, so a resent event follows its newest vemon job.
function readJournal(file: string): JournalState {
  const state: JournalState = { recorded: new Map(), sentTo: new Map(), sends: new Map(), confirmed: new Set(), retracted: new Set() };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return state;
  }
  for (const line of text.split('\n')) {
    const [tag, a, b, c] = line.split(' ');
    if (a === undefined) continue;
    if (tag === 'E' && b !== undefined) state.recorded.set(a, b);
    else if (tag === 'S' && b !== undefined) {
      const at = c === undefined ? Number.NaN : Number(c);
      if (Number.isFinite(at)) {
        state.sentTo.set(a, { jobId: b, at });
        state.sends.set(a, [...(state.sends.get(a) ?? []), b]);
      }
      else state.recorded.delete(a); // an older version's mark: delivered as far as it knew
    } else if (tag === 'C') state.confirmed.add(a);
    else if (tag === 'R') state.retracted.add(a);
  }
  return state;
}

// Events survive a dead batch server, LDAP or a vemon job that never ran: they are on disk before
// anything is tried, and handed-over ones stay until the vemon job is known to have delivered them.
export function openEventJournal(file: string): EventJournal {
  return {
    append(encodedEvents) {
      const stamp = `${Date.now()}-${process.pid}`;
      appendLines(file, encodedEvents.map((e, i) => `E ${stamp}-${i} ${e}`));
    },
    pending(now = new Date()) {
      const s = readJournal(file);
      return [...s.recorded].filter(([id]) => {
        const sent = s.sentTo.get(id);
        if (sent === undefined) return true;
        if (!s.retracted.has(sent.jobId) || s.confirmed.has(sent.jobId)) return false;
        const failed = (s.sends.get(id) ?? []).filter((job) => s.retracted.has(job)).length;
        return now.getTime() >= sent.at + resendDelayMs(failed);
      }).map(([id, event]) => ({ id, event }));
    },
    markSent(ids, jobId, at = new Date()) {
      appendLines(file, ids.map((id) => `S ${id} ${jobId} ${at.getTime()}`));
    },
    unconfirmed() {
      const s = readJournal(file);
      const jobs = new Map<string, { jobId: string; sentAt: number; events: number }>();
      for (const id of s.recorded.keys()) {
        const sent = s.sentTo.get(id);
        if (sent === undefined || s.confirmed.has(sent.jobId) || s.retracted.has(sent.jobId)) continue;
        const job = jobs.get(sent.jobId) ?? { jobId: sent.jobId, sentAt: sent.at, events: 0 };
        jobs.set(sent.jobId, { ...job, sentAt: Math.min(job.sentAt, sent.at), events: job.events + 1 });
      }
      return [...jobs.values()].sort((x, y) => x.sentAt - y.sentAt);
    },
    confirm(jobId) {
      appendLines(file, [`C ${jobId}`]);
    },
    retract(jobId) {
      appendLines(file, [`R ${jobId}`]);
    },
  };
}
