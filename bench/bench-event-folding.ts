// a) applyEvents through the LDAP adapter vs the same writes as one raw ldapmodify LDIF.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSlapd } from '../test/harness/slapd.js';
import { createLdapInventory } from '../src/inventory/ldap-inventory.js';
import { applyEvents } from '../src/ve-monitor/apply-event.js';
import { foldEvent } from '../src/core/fold-event.js';
import { buildHistoryDn, buildVeDn } from '../src/inventory/build-inventory-dn.js';
import { buildVeUpdateChanges, encodeVeAttributes } from '../src/inventory/ve-entry.js';
import { encodeHistoryAttributes } from '../src/inventory/history-entry.js';
import { runCommand } from '../src/core/run-command.js';
import { buildAddLdif, buildModifyLdif } from './build-ldif.js';
import { timeMs } from './bench-row.js';
import type { VeEvent } from '../src/core/ve-event.js';
import type { VeRecord } from '../src/inventory/inventory.js';

const STATES = ['starting', 'running', 'stopping', 'stopped', 'destroyed'] as const;

// n events: n/5 VEs, each through five states, seq ordered as a host would emit them.
function buildEvents(n: number, firstJob: number): VeEvent[] {
  const ves = Math.ceil(n / STATES.length);
  const events: VeEvent[] = [];
  for (let k = 0; k < STATES.length; k++) {
    for (let v = 0; v < ves && events.length < n; v++) {
      const jobId = String(firstJob + v);
      events.push({
        version: 1, jobId, seq: 1_000_001 + k, state: STATES[k] ?? 'running', at: new Date(Date.UTC(2026, 0, 1, 0, k, v % 60)).toISOString(), host: `node${v % 8}`,
        owner: 'user1', name: `ve${v}`, type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: `pbsve-${jobId}`, source: 'prologue', reason: `step ${k}`,
      });
    }
  }
  return events;
}

// The raw tool gets exactly the writes the fold produces: add or CAS-modify, then the history entry.
function buildEventsLdif(events: readonly VeEvent[], baseDn: string): string {
  const current = new Map<string, VeRecord>();
  let ldif = '';
  for (const e of events) {
    const before = current.get(e.jobId);
    const { record, history } = foldEvent(before, e);
    if (record !== undefined) {
      const dn = buildVeDn(baseDn, e.jobId);
      ldif += before === undefined ? buildAddLdif(dn, encodeVeAttributes(record)) : buildModifyLdif(dn, buildVeUpdateChanges(record, before.seq));
      current.set(e.jobId, record);
    }
    ldif += buildAddLdif(buildHistoryDn(baseDn, e.jobId, e.seq), encodeHistoryAttributes(history));
  }
  return ldif;
}

export interface FoldingMeasure {
  readonly events: number;
  readonly oursPerSecond: number;
  readonly rawPerSecond: number;
}

export async function measureEventFolding(n = 2000): Promise<FoldingMeasure> {
  const slapd = await startSlapd();
  try {
    const ours = buildEvents(n, 100_000);
    const raw = buildEvents(n, 500_000);
    const ldifFile = join(slapd.dir, 'events.ldif');
    writeFileSync(ldifFile, buildEventsLdif(raw, slapd.baseDn));
    const inventory = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn, bindDn: slapd.writerDn, password: slapd.writerPassword, timeoutMs: 30_000 });
    try {
      await inventory.getVe('1'); // connect and bind outside the timing, as a vemon job's first call would
      const a = await timeMs(() => applyEvents(inventory, ours));
      if (a.value.applied !== n) throw new Error(`applyEvents applied ${a.value.applied} of ${n}`);
      const b = await timeMs(() => runCommand('ldapmodify', ['-x', '-H', slapd.url, '-D', slapd.writerDn, '-w', slapd.writerPassword, '-f', ldifFile], { timeoutMs: 600_000 }));
      if (b.value.exitCode !== 0) throw new Error(`ldapmodify failed: ${b.value.stderr.slice(0, 500)}`);
      return { events: n, oursPerSecond: n / (a.ms / 1000), rawPerSecond: n / (b.ms / 1000) };
    } finally {
      await inventory.close();
    }
  } finally {
    await slapd.stop();
  }
}
