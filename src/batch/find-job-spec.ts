import { decodeVeSpec } from '../core/encode-ve-spec.js';
import type { BatchJob } from './batch.js';
import type { VeSpec } from '../core/ve-spec.js';

export const SPEC_VARIABLE = 'VE_SPEC';
export const SPEC_COMMENT_PREFIX = 'pbs-ve:';

// For listing and reconcile only: the prologue trusts the job script, never these user-editable copies.
export function findJobSpec(job: BatchJob): VeSpec | undefined {
  const fromComment = job.comment?.startsWith(SPEC_COMMENT_PREFIX) === true ? job.comment.slice(SPEC_COMMENT_PREFIX.length) : undefined;
  const token = job.variables[SPEC_VARIABLE] ?? fromComment;
  if (token === undefined) return undefined;
  try {
    return decodeVeSpec(token);
  } catch {
    return undefined;
  }
}
