import type { VeType } from './ve-type.js';

/** What a user asks for; validated by validateVeSpec, carried with the job by encodeVeSpec. */
export interface VeSpec {
  readonly version: 1;
  readonly name: string;
  readonly type: VeType;
  readonly image: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly leaseSeconds: number;
  /** extra data disks (MiB each), attached as vdb, vdc, ...; absent = none (tokens of older versions) */
  readonly disks?: readonly number[];
  /** true: the epilogue keeps the data disks for the owner instead of deleting them */
  readonly keepDisks?: boolean;
  /** one NIC per entry, in order (nic0, nic1, ...); absent = one NIC on the host's default network */
  readonly networks?: readonly string[];
}
