import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { openEventJournal } from './event-journal.js';
import { chooseVemonOutputPath, createEventSigner, createEventSink } from './event-sink.js';
import { hostKeyPath, openHostKeyring } from './host-key.js';
import { openBatch } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

/** The host's journal file: one per state dir. */
export function hostJournalPath(config: PbsVeConfig): string {
  return join(config.stateDir, 'journal', 'events.log');
}

// For the periodic MOM hook and `ve-monitor flush`: events left behind while the batch server was
// down go out now, oldest first, signed with this host's key.
export async function flushHostJournal(config: PbsVeConfig, configDir: string, host: string, log: (line: string) => void = buildHookLog(config, 've-flush')): Promise<{ sent: number; pending: number }> {
  if (!existsSync(hostKeyPath(configDir, host))) log(`pbs-ve: no key for this host (${host}) in ${join(configDir, 'host-keys')}: its events stay in the journal`);
  const sink = createEventSink({
    batch: openBatch(config), journal: openEventJournal(hostJournalPath(config)), config, configDir, log, sign: createEventSigner(openHostKeyring(configDir, log)), vemonOutputPath: () => chooseVemonOutputPath(config, log),
  });
  await sink.confirmSent?.();
  return sink.flush();
}
