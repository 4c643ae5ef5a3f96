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
}
