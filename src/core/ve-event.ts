import type { VeState } from './ve-state.js';
import type { VeType } from './ve-type.js';
import type { VeNic } from './ve-nic.js';

export type EventSource = 'prologue' | 'epilogue' | 'job-body' | 'mom-hook' | 'reconcile' | 'recovery' | 'operation';

/** One observed state change of a VE; seq orders the events of one VE (jobId). */
export interface VeEvent {
  readonly version: 1;
  readonly jobId: string;
  readonly seq: number;
  readonly state: VeState;
  /** ISO 8601 time the state was observed */
  readonly at: string;
  readonly host: string;
  readonly owner: string;
  readonly name: string;
  readonly type: VeType;
  readonly image: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly domain: string;
  readonly source: EventSource;
  /** why, in a few words: "domain running", "job cancelled", "guest powered off" */
  readonly reason: string;
  /** multi-node VEs only: the part this event is about (seq then orders the events of that part) */
  readonly part?: number;
  /** multi-node VEs only: how many parts the VE has */
  readonly nodes?: number;
  /** the VE's NICs in order (nic0, nic1, ...), with IPs once known; absent = not known to the sender */
  readonly nics?: readonly VeNic[];
  /** the virtual cluster the VE is a member of, and its role there (from its spec); absent = none */
  readonly cluster?: { readonly name: string; readonly role: string };
}
