// The Inventory port: LDAP as seen by pbs-ve (VE entries and their state history).
import type { VeState } from '../core/ve-state.js';
import type { VeType } from '../core/ve-type.js';
import type { EventSource } from '../core/ve-event.js';
import type { VeNic } from '../core/ve-nic.js';
import type { HostReport } from '../events/host-report.js';

export interface VeRecord {
  readonly jobId: string;
  readonly name: string;
  readonly owner: string;
  readonly type: VeType;
  readonly image: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly state: VeState;
  /** host the VE runs or last ran on; empty before placement */
  readonly host: string;
  readonly domain: string;
  /** seq of the last event folded into this record */
  readonly seq: number;
  /** ISO 8601 */
  readonly lastChange: string;
  /** multi-node VEs only: how many parts (one domain per node); absent = 1 */
  readonly nodes?: number;
  /** network interfaces in order; absent = none recorded */
  readonly nics?: readonly VeNic[];
  /** member of this virtual cluster (its name) in this role; absent = none */
  readonly cluster?: { readonly name: string; readonly role: string };
}

/** A live VE as a reconcile pass compares it with the batch system: the few fields it reads of every VE. */
export interface LiveVe {
  readonly jobId: string;
  readonly name: string;
  readonly state: VeState;
  /** host the VE runs or last ran on; empty before placement */
  readonly host: string;
  /** seq of the last event folded into the entry */
  readonly seq: number;
}

/** One part (one node's domain) of a multi-node VE; a child of its VE entry. */
export interface VePartRecord {
  readonly jobId: string;
  /** 0 = the job's first host */
  readonly part: number;
  readonly state: VeState;
  readonly host: string;
  readonly domain: string;
  /** seq of the last event of this part (each part counts its own) */
  readonly seq: number;
  /** ISO 8601 */
  readonly lastChange: string;
}

export interface HistoryRecord {
  readonly jobId: string;
  readonly seq: number;
  readonly state: VeState;
  readonly oldState: VeState | undefined;
  /** ISO 8601 */
  readonly at: string;
  readonly host: string;
  readonly source: EventSource;
  readonly reason: string;
  /** multi-node VEs only: the part the transition is about (its history lives under the part) */
  readonly part?: number;
}

export interface VeQuery {
  /** include destroyed/lost/failed VEs */
  readonly includeFinal?: boolean;
  readonly owner?: string;
  readonly name?: string;
  readonly host?: string;
}

export interface Inventory {
  getVe(jobId: string): Promise<VeRecord | undefined>;
  listVes(query?: VeQuery): Promise<VeRecord[]>;
  /** every VE not in a final state, jobId order, only the fields of LiveVe (a fraction of listVes' decoding at 100,000 VEs) */
  listLiveVes(): Promise<LiveVe[]>;
  /** rejects with VeError code inventory-exists when the entry is there already */
  createVe(record: VeRecord): Promise<void>;
  /** compare-and-swap on seq: false (and nothing written) when the stored seq is not expectedSeq */
  updateVe(record: VeRecord, expectedSeq: number): Promise<boolean>;
  /** idempotent: false when a record with this (jobId, seq) exists already */
  addHistory(record: HistoryRecord): Promise<boolean>;
  /** oldest first; the parts' history included */
  listHistory(jobId: string): Promise<HistoryRecord[]>;
  /** multi-node VEs (properties, so they may be passed around): one part, or undefined */
  readonly getPart: (jobId: string, part: number) => Promise<VePartRecord | undefined>;
  /** the parts known so far, part order */
  readonly listParts: (jobId: string) => Promise<VePartRecord[]>;
  /** rejects with VeError code inventory-exists when the entry is there already; the VE entry must exist */
  readonly createPart: (record: VePartRecord) => Promise<void>;
  /** compare-and-swap on the part's seq, as updateVe */
  readonly updatePart: (record: VePartRecord, expectedSeq: number) => Promise<boolean>;
  /** a host's orphan-domain report onto its pbsveHost entry (created if missing); stale: a report as late or later is stored */
  readonly putHostReport: (report: HostReport) => Promise<'applied' | 'stale'>;
  /** every host's stored report, by host name */
  readonly listHostReports: () => Promise<HostReport[]>;
  close(): Promise<void>;
}
