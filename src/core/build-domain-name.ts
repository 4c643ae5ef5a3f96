import { VeError } from './ve-error.js';

export const JOB_ID_PATTERN = /^[0-9]{1,12}(?:\[[0-9]{0,9}\])?(?:\.[A-Za-z0-9-]{1,63}){0,8}$/;

// Job ids reach us from argv and environments: only the shapes TORQUE and Slurm produce are accepted.
export function validateJobId(jobId: string, field = 'jobId'): string {
  if (!JOB_ID_PATTERN.test(jobId)) {
    throw new VeError('invalid-job-id', 'prereq', `${field}: not a batch job id such as 17 or 15.server (got ${JSON.stringify(jobId)})`, { field });
  }
  return jobId;
}

/** parts of one VE: 0 .. MAX_PART (the spec's nodes bound is far below) */
export const MAX_PART = 9999;

// A part index reaches names and paths: a whole number in range, nothing else.
export function validatePart(part: number, field = 'part'): number {
  if (!Number.isSafeInteger(part) || part < 0 || part > MAX_PART) {
    throw new VeError('invalid-part', 'prereq', `${field}: must be a whole number from 0 to ${MAX_PART} (got ${JSON.stringify(part)})`, { field });
  }
  return part;
}

/**
 * The part suffix of names and job directories: none for part 0 (single-node VEs keep their names),
 * "_p<i>" otherwise. "_" never ends a job id ("-p1" would: 15.vm-p1 is a TORQUE job id of server vm-p1).
 */
export function formatPartSuffix(part: number): string {
  return validatePart(part) === 0 ? '' : `_p${part}`;
}

// The domain is named after the job (and part), so any host can tell which job a domain belongs to.
export function buildDomainName(jobId: string, part = 0): string {
  return `pbsve-${validateJobId(jobId).replace(/[[\]]/g, '_')}${formatPartSuffix(part)}`;
}

// The reverse of buildDomainName; undefined means "not ours".
export function parseDomainPart(domain: string): { readonly jobId: string; readonly part: number } | undefined {
  const match = /^pbsve-(.+?)(?:_p([1-9][0-9]{0,3}))?$/.exec(domain);
  if (match?.[1] === undefined) return undefined;
  const jobId = match[1].replace(/_([0-9]*)_/, '[$1]');
  if (!JOB_ID_PATTERN.test(jobId)) return undefined;
  return { jobId, part: match[2] === undefined ? 0 : Number(match[2]) };
}

// Orphan detection needs the reverse mapping; undefined means "not ours".
export function parseDomainName(domain: string): string | undefined {
  return parseDomainPart(domain)?.jobId;
}
