import { mkdirSync, readFileSync } from 'node:fs';
import { appendFileNoFollow } from '../core/write-file-no-follow.js';
import { dirname } from 'node:path';

/**
 * The host's append-only event journal: "E <id> <event>" when an event is recorded,
 * "S <id> <batch job id>" once the vemon job carrying it was accepted. Root-only, fsync'd.
 */
export interface EventJournal {
  append(encodedEvents: readonly string[]): void;
  /** events recorded but not yet sent, oldest first */
  pending(): { id: string; event: string }[];
  markSent(ids: readonly string[], jobId: string): void;
}

function appendLines(file: string, lines: readonly string[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileNoFollow(file, lines.map((l) => `${l}\n`).join(''), { mode: 0o600, sync: true });
}

// Events survive a dead batch server or LDAP: they are on disk before anything is tried.
export function openEventJournal(file: string): EventJournal {
  return {
    append(encodedEvents) {
      const stamp = `${Date.now()}-${process.pid}`;
      appendLines(file, encodedEvents.map((e, i) => `E ${stamp}-${i} ${e}`));
    },
    pending() {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return [];
      }
      const recorded = new Map<string, string>();
      for (const line of text.split('\n')) {
        const [tag, id, value] = line.split(' ');
        if (id === undefined || value === undefined) continue;
        if (tag === 'E') recorded.set(id, value);
        else if (tag === 'S') recorded.delete(id);
      }
      return [...recorded].map(([id, event]) => ({ id, event }));
    },
    markSent(ids, jobId) {
      appendLines(file, ids.map((id) => `S ${id} ${jobId}`));
    },
  };
}
