// What an op job reports back: written by its prologue on the VE's host, printed by its body, read by `ve`.
import { VeError, type VeErrorKind } from '../core/ve-error.js';
import type { VeOperationKind } from './encode-ve-operation.js';
import type { VeState } from '../core/ve-state.js';

export interface VeSnapshotInfo {
  readonly name: string;
  /** qemu-internal: disks and RAM inside the VE's qcow2 files; lxc-copy: a copy of the rootfs tree */
  readonly kind: 'qemu-internal' | 'lxc-copy';
  readonly createdAt: string;
  /** how long taking it took (the guest is paused or frozen for most of it) */
  readonly ms: number;
}

export type VeOperationResult =
  | {
    readonly ok: true;
    readonly kind: VeOperationKind;
    /** the VE's job id and name */
    readonly target: string;
    readonly name: string;
    readonly message: string;
    /** the VE's state once the operation is done, as the host sees it */
    readonly state: VeState;
    /** extend: the job's time limit being set */
    readonly timeLimitSeconds?: number;
    readonly snapshots: readonly VeSnapshotInfo[];
    readonly ms: number;
  }
  | { readonly ok: false; readonly code: string; readonly errorKind: VeErrorKind; readonly message: string };

/** the op job's output line `ve` looks for; anything else in the output is ignored */
export const OP_RESULT_PREFIX = 'pbs-ve-op-result: ';

export function formatOpResultLine(result: VeOperationResult): string {
  return `${OP_RESULT_PREFIX}${JSON.stringify(result)}\n`;
}

// The output file is the user's own: its result line is believed only as far as its shape goes.
export function parseOpResultOutput(output: string): VeOperationResult | undefined {
  const line = output.split('\n').find((l) => l.startsWith(OP_RESULT_PREFIX));
  if (line === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.slice(OP_RESULT_PREFIX.length));
  } catch (err) {
    throw new VeError('operation-result-unreadable', 'exec', 'the operation job printed a result that is not JSON', { cause: err });
  }
  const o = parsed as Partial<Record<string, unknown>> | null;
  if (o === null || typeof o !== 'object' || typeof o['ok'] !== 'boolean' || typeof o['message'] !== 'string') {
    throw new VeError('operation-result-unreadable', 'exec', 'the operation job printed a result of the wrong shape');
  }
  if (o['ok'] && !Array.isArray(o['snapshots'])) throw new VeError('operation-result-unreadable', 'exec', 'the operation result lists no snapshots');
  return parsed as VeOperationResult;
}
