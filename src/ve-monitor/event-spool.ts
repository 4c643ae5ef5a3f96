import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { isProcessAlive } from '../core/is-process-alive.js';

/**
 * The vemon node's own durable inbox: a vemon job writes the event lines it accepted here (fsync'd)
 * before it touches LDAP, and removes a file only once every line of it was folded into LDAP. What a
 * job could not apply (LDAP down past its wait, the job killed) is applied by the next vemon job or
 * the next `ve-monitor reconcile`.
 */
export interface EventSpool {
  /** writes one new file of lines, durably; returns its name */
  add(lines: readonly string[], tag: string): string;
  /** spooled files, oldest first */
  list(): string[];
  read(name: string): string[];
  /** the file was applied: gone */
  remove(name: string): void;
  /** a file LDAP keeps refusing for a reason other than an outage: moved to failed/, out of the way */
  quarantine(name: string): string;
  /** undefined while another live process holds the file; else the release function */
  tryLock(name: string): (() => void) | undefined;
}

/** <stateDir>/monitor/spool on the vemon node */
export function monitorSpoolDir(stateDir: string): string {
  return join(stateDir, 'monitor', 'spool');
}

const SPOOL_FILE = /^\d{15}-\d{1,10}-\d{1,6}-[A-Za-z0-9_.-]{1,40}\.events$/;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}


function checkName(name: string): string {
  if (!SPOOL_FILE.test(name)) throw new VeError('invalid-spool-file', 'exec', `not a spool file name: ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

// Names sort by time of arrival: zero-padded milliseconds, then pid and a counter for ties.
export function openEventSpool(dir: string): EventSpool {
  let counter = 0;
  const ensureDir = (): void => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  };
  return {
    add(lines, tag) {
      ensureDir();
      const safeTag = tag.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40) || 'x';
      const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${counter++}-${safeTag}.events`;
      const tmp = join(dir, `.${name}.tmp`);
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, lines.map((l) => `${l}\n`).join(''));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(dir, name));
      fsyncDir(dir);
      return name;
    },
    list() {
      try {
        return readdirSync(dir).filter((n) => SPOOL_FILE.test(n)).sort();
      } catch {
        return [];
      }
    },
    read(name) {
      return readFileSync(join(dir, checkName(name)), 'utf8').split('\n').filter((l) => l.trim() !== '');
    },
    remove(name) {
      rmSync(join(dir, checkName(name)), { force: true });
      fsyncDir(dir);
    },
    quarantine(name) {
      mkdirSync(join(dir, 'failed'), { recursive: true, mode: 0o700 });
      const target = join(dir, 'failed', checkName(name));
      renameSync(join(dir, name), target);
      return target;
    },
    tryLock(name) {
      const lock = join(dir, `${checkName(name)}.lock`);
      // the lock appears with its holder's pid already in it (link is atomic), so it is never seen empty
      const mine = join(dir, `.${name}.lock.${process.pid}`);
      writeFileSync(mine, `${process.pid}\n`, { mode: 0o600 });
      try {
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            linkSync(mine, lock);
            return () => {
              rmSync(lock, { force: true });
            };
          } catch {
            let holder = 0;
            try {
              holder = Number(readFileSync(lock, 'utf8').trim());
            } catch {
              continue; // released meanwhile
            }
            // a holder killed (walltime, node failure) must not keep its file from being applied
            if (isProcessAlive(holder)) return undefined;
            rmSync(lock, { force: true });
          }
        }
        return undefined;
      } finally {
        rmSync(mine, { force: true });
      }
    },
  };
}

// When the spool directory cannot be written (a vemon job running as a service account without
// rights in the state dir): the events are still applied, with the same retries, only not durably.
export function openMemoryEventSpool(lines: readonly string[]): EventSpool {
  const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-0-memory.events`;
  let held = lines.length > 0;
  return {
    add: () => { throw new VeError('spool-read-only', 'exec', 'the in-memory spool holds one file'); },
    list: () => (held ? [name] : []),
    read: () => [...lines],
    remove: () => { held = false; },
    quarantine: () => { held = false; return `(not kept: ${name} was in memory only)`; },
    tryLock: () => () => undefined,
  };
}
