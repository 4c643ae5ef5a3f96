// The one in-memory LDAP inventory of the unit tests: VEs, parts, history and host reports in maps, with
// the real adapter's rules (create refuses an existing entry, updates are compare-and-swap on seq, history
// is idempotent by jobId+seq, history and parts need their parent entry); a test overrides only what it
// scripts and keeps its own extra fields.
import { VeError } from '../../src/core/ve-error.js';
import type { HistoryRecord, Inventory, VePartRecord, VeRecord } from '../../src/inventory/inventory.js';
import { isFinalState } from '../../src/core/ve-state.js';
import { compareJobIds } from '../../src/inventory/compare-job-ids.js';
import type { HostReport } from '../../src/events/host-report.js';

export interface FakeInventory extends Inventory {
  readonly ves: Map<string, VeRecord>;
  readonly parts: Map<string, VePartRecord>;
  readonly history: HistoryRecord[];
  readonly hostReports: Map<string, HostReport>;
}

// the codes and kinds of the LDAP adapter's translation (entryAlreadyExists, noSuchObject)
const exists = (what: string): VeError => new VeError('inventory-exists', 'exec', `${what} exists already`);
const noParent = (what: string): VeError => new VeError('inventory-not-found', 'exec', `${what}: no parent entry`);
const partKey = (jobId: string, part: number): string => `${jobId}/${part}`;

export function createFakeInventory<T extends Partial<Inventory>>(overrides: T = {} as T): FakeInventory & NoInfer<T> {
  const ves = new Map<string, VeRecord>();
  const parts = new Map<string, VePartRecord>();
  const history: HistoryRecord[] = [];
  const hostReports = new Map<string, HostReport>();
  const base: FakeInventory = {
    ves, parts, history, hostReports,
    getVe: (jobId) => Promise.resolve(ves.get(jobId)),
    listVes: (query) => Promise.resolve([...ves.values()].filter((v) => (query?.owner === undefined || v.owner === query.owner) && (query?.name === undefined || v.name === query.name) && (query?.host === undefined || v.host === query.host))),
    // through listVes as it stands after the overrides: a test that scripts listVes scripts this too
    listLiveVes: async () => (await base.listVes({ includeFinal: false })).filter((v) => !isFinalState(v.state))
      .map((v) => ({ jobId: v.jobId, name: v.name, state: v.state, host: v.host, seq: v.seq })).sort((a, b) => compareJobIds(a.jobId, b.jobId)),
    createVe: (record) => {
      if (ves.has(record.jobId)) return Promise.reject(exists(`VE ${record.jobId}`));
      ves.set(record.jobId, record);
      return Promise.resolve();
    },
    updateVe: (record, expectedSeq) => {
      if (ves.get(record.jobId)?.seq !== expectedSeq) return Promise.resolve(false);
      ves.set(record.jobId, record);
      return Promise.resolve(true);
    },
    addHistory: (record) => {
      if (!ves.has(record.jobId) || (record.part !== undefined && !parts.has(partKey(record.jobId, record.part)))) return Promise.reject(noParent(`history ${record.seq} of VE ${record.jobId}`));
      if (history.some((h) => h.jobId === record.jobId && h.seq === record.seq && h.part === record.part)) return Promise.resolve(false);
      history.push(record);
      return Promise.resolve(true);
    },
    listHistory: (jobId) => Promise.resolve(history.filter((h) => h.jobId === jobId).sort((a, b) => a.at.localeCompare(b.at) || a.seq - b.seq)),
    getPart: (jobId, part) => Promise.resolve(parts.get(partKey(jobId, part))),
    listParts: (jobId) => Promise.resolve([...parts.values()].filter((p) => p.jobId === jobId).sort((a, b) => a.part - b.part)),
    createPart: (record) => {
      if (!ves.has(record.jobId)) return Promise.reject(noParent(`part ${record.part} of VE ${record.jobId}`));
      if (parts.has(partKey(record.jobId, record.part))) return Promise.reject(exists(`part ${record.part} of VE ${record.jobId}`));
      parts.set(partKey(record.jobId, record.part), record);
      return Promise.resolve();
    },
    updatePart: (record, expectedSeq) => {
      if (parts.get(partKey(record.jobId, record.part))?.seq !== expectedSeq) return Promise.resolve(false);
      parts.set(partKey(record.jobId, record.part), record);
      return Promise.resolve(true);
    },
    putHostReport: (report) => {
      const old = hostReports.get(report.host);
      if (old !== undefined && old.at >= report.at) return Promise.resolve('stale');
      hostReports.set(report.host, report);
      return Promise.resolve('applied');
    },
    listHostReports: () => Promise.resolve([...hostReports.values()]),
    close: () => Promise.resolve(),
  };
  return Object.assign(base, overrides);
}
