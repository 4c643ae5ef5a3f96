// The Inventory port: LDAP as seen by pbs-ve (VE entries and their state history).
import type { VeState } from '../core/ve-state.js';
import type { VeType } from '../core/ve-type.js';
import type { EventSource } from '../core/ve-event.js';
import type { VeNic } from '../core/ve-nic.js';

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
  /** network interfaces in order; absent = none recorded */
  readonly nics?: readonly VeNic[];
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
  /** rejects with VeError code inventory-exists when the entry is there already */
  createVe(record: VeRecord): Promise<void>;
  /** compare-and-swap on seq: false (and nothing written) when the stored seq is not expectedSeq */
  updateVe(record: VeRecord, expectedSeq: number): Promise<boolean>;
  /** idempotent: false when a record with this (jobId, seq) exists already */
  addHistory(record: HistoryRecord): Promise<boolean>;
  /** oldest first */
  listHistory(jobId: string): Promise<HistoryRecord[]>;
  close(): Promise<void>;
}
