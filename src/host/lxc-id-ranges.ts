// One host id range per LXC container, so root of one container is nobody to the host and to every other container.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { DEFAULT_LXC_IDS, LXC_ID_COUNT, type LxcIdsConfig } from '../config/pbs-ve-config.js';
import type { LxcIdMap } from '../virt/domain-spec.js';

export interface LxcIdRanges {
  /** the range this domain holds, a free one taken for it if it holds none */
  allocate(domain: string): LxcIdMap;
  /** frees the domain's range; nothing when it holds none */
  release(domain: string): void;
}

const SLOT_NAME = /^[0-9]{1,6}$/;

/** <stateDir>/lxc-ids/<slot>: a file per taken slot, holding the domain that has it */
export function findLxcIdsDir(stateDir: string): string {
  return join(stateDir, 'lxc-ids');
}

// Slot i of the configured block; the container's 0..65535 become these host ids.
export function buildLxcIdMap(ids: LxcIdsConfig, slot: number): LxcIdMap {
  return { target: ids.first + slot * LXC_ID_COUNT, count: LXC_ID_COUNT };
}

// Concurrent prologues start at different slots (a hash of the domain), so they rarely race for one.
function findFirstSlot(domain: string, slots: number): number {
  return createHash('sha256').update(domain).digest().readUInt32BE(0) % slots;
}

// The taken slots and who holds them; a file being written right now reads as held by nobody yet.
function readTakenSlots(dir: string): Map<number, string> {
  const taken = new Map<number, string>();
  for (const name of readdirSync(dir)) {
    if (!SLOT_NAME.test(name)) continue;
    let holder = '';
    try {
      holder = readFileSync(join(dir, name), 'utf8').trim();
    } catch {
      // freed meanwhile
    }
    taken.set(Number(name), holder);
  }
  return taken;
}

/**
 * Slots are taken by creating their file with O_EXCL: of two prologues that pick the same free slot
 * at once exactly one gets it and the other tries the next, with no lock. A requeued job's prologue
 * finds its domain's slot again. Freed by the epilogue after the rootfs copy is gone.
 */
export function createLxcIdRanges(stateDir: string, ids: LxcIdsConfig = DEFAULT_LXC_IDS): LxcIdRanges {
  const dir = findLxcIdsDir(stateDir);
  return {
    allocate(domain) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const taken = readTakenSlots(dir);
      for (const [slot, holder] of taken) if (holder === domain && slot < ids.slots) return buildLxcIdMap(ids, slot);
      const first = findFirstSlot(domain, ids.slots);
      for (let i = 0; i < ids.slots; i++) {
        const slot = (first + i) % ids.slots;
        if (taken.has(slot)) continue;
        let fd: number;
        try {
          fd = openSync(join(dir, String(slot)), 'wx', 0o600);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw err;
        }
        try {
          writeSync(fd, `${domain}\n`);
        } finally {
          closeSync(fd);
        }
        return buildLxcIdMap(ids, slot);
      }
      throw new VeError('lxc-ids-exhausted', 'environment', `all ${ids.slots} LXC id ranges of this host are taken (config virt.lxcIds; ${dir})`);
    },
    release(domain) {
      let taken: Map<number, string>;
      try {
        taken = readTakenSlots(dir);
      } catch {
        return;
      }
      for (const [slot, holder] of taken) {
        if (holder !== domain) continue;
        try {
          unlinkSync(join(dir, String(slot)));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    },
  };
}
