// The per-VE console log <jobDir>/console.log, readable by the VE's owner only.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { loadXml2js } from '../core/load-xml2js.js';
import type { UserIds } from './find-user-ids.js';

/** LXC consoles are copied into this log by the host's watcher (ve-host-watch), which follows each container's pty */
export interface VeConsole {
  /** creates (or takes over) the log file: owner's, 0600, before the domain writes to it */
  prepareLog(logPath: string, owner: UserIds): Promise<void>;
}

// libvirt assigns the host side of an LXC console at start: read it back from the live XML.
export async function findConsolePty(domainXml: string): Promise<string | undefined> {
  const doc = await loadXml2js().parseStringPromise(domainXml) as { domain?: { devices?: { console?: { $?: { type?: string }; source?: { $?: { path?: string } }[] }[] }[] } };
  for (const consoleDef of doc.domain?.devices?.[0]?.console ?? []) {
    const path = consoleDef.source?.[0]?.$?.path;
    if (consoleDef.$?.type === 'pty' && path !== undefined && /^\/dev\/pts\/[0-9]+$/.test(path)) return path;
  }
  return undefined;
}

// The owner reads the log; root made it, through no link.
export function createVeConsole(): VeConsole {
  return {
    async prepareLog(logPath, owner) {
      // O_NOFOLLOW: root must never chown through a link someone planted
      const handle = await open(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        await handle.chown(owner.uid, owner.gid);
        await handle.chmod(0o600);
      } finally {
        await handle.close();
      }
    },
  };
}
