// Batch job ids become LDAP RDN values and filter values: only the shapes TORQUE/PBS/Slurm produce pass.
import { invalidField } from '../core/ve-error.js';

/** 123, 123.server.example, 123[], 123[4].server (array jobs) */
export const JOB_ID_PATTERN = /^[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9.-]+)?$/;
const MAX_JOB_ID_LENGTH = 255;

// Rejecting odd ids up front keeps every DN we build a two-level, predictable name.
export function validateJobId(value: unknown, field = 'jobId'): string {
  if (typeof value !== 'string' || value.length > MAX_JOB_ID_LENGTH || !JOB_ID_PATTERN.test(value)) {
    throw invalidField(field, 'must be a batch job id such as 123, 123.server or 123[4].server', value);
  }
  return value;
}
