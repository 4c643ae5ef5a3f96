// The HostInventory port: physical hosts as the inventory records them (ou=hosts).
import type { VeType } from '../core/ve-type.js';

export const HOST_STATES = ['up', 'down', 'drain', 'offline', 'unknown'] as const;
export type HostState = (typeof HOST_STATES)[number];

// Entries may be written by operators with ldapmodify: the decoder checks states with this.
export function isHostState(value: string): value is HostState {
  return (HOST_STATES as readonly string[]).includes(value);
}

export interface HostRecord {
  readonly name: string;
  readonly state: HostState;
  /** 0 when unknown */
  readonly cpus: number;
  /** 0 when unknown */
  readonly memoryMiB: number;
  readonly hypervisorTypes: readonly VeType[];
  /** ISO 8601, '' when never seen */
  readonly lastHeartbeat: string;
  /** operator note, '' when none */
  readonly note: string;
}

export interface HostInventory {
  /** creates or replaces the host entry */
  putHost(record: HostRecord): Promise<void>;
  getHost(name: string): Promise<HostRecord | undefined>;
  /** sorted by name */
  listHosts(): Promise<HostRecord[]>;
  close(): Promise<void>;
}
