// Who is logged in: random session ids held in memory only (a restart logs everybody out, no secret on disk).
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';

export interface Session {
  readonly user: string;
  readonly admin: boolean;
  /** epoch ms */
  readonly expires: number;
}

export interface SessionStore {
  create(user: string, admin: boolean): string;
  /** undefined when unknown or expired */
  get(id: string): Session | undefined;
  drop(id: string): void;
}

/** a session ends this long after login, whatever the activity (admin rights are looked up again at the next login) */
export const SESSION_TTL_MS = 8 * 3600_000;
const MAX_SESSIONS = 10_000;

export function createSessionStore(clock: Clock, ttlMs: number = SESSION_TTL_MS): SessionStore {
  const sessions = new Map<string, Session>();
  // expired sessions go on every login, and the oldest when the map is full: memory stays bounded under a login flood
  const prune = (now: number): void => {
    for (const [id, s] of sessions) if (s.expires <= now) sessions.delete(id);
    while (sessions.size >= MAX_SESSIONS) {
      const oldest = sessions.keys().next().value;
      if (oldest === undefined) break;
      sessions.delete(oldest);
    }
  };
  return {
    create(user, admin) {
      const now = clock.now().getTime();
      prune(now);
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, { user, admin, expires: now + ttlMs });
      return id;
    },
    get(id) {
      const s = sessions.get(id);
      if (s === undefined) return undefined;
      if (s.expires <= clock.now().getTime()) {
        sessions.delete(id);
        return undefined;
      }
      return s;
    },
    drop(id) {
      sessions.delete(id);
    },
  };
}
