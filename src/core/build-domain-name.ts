import { VeError } from './ve-error.js';

export const JOB_ID_PATTERN = /^[0-9]{1,12}(?:\[[0-9]{0,9}\])?(?:\.[A-Za-z0-9-]{1,63}){0,8}$/;

// Job ids reach us from argv and environments: only the shapes TORQUE and Slurm produce are accepted.
export function validateJobId(jobId: string, field = 'jobId'): string {
  if (!JOB_ID_PATTERN.test(jobId)) {
    throw new VeError('invalid-job-id', 'prereq', `${field}: not a batch job id such as 17 or 15.server (got ${JSON.stringify(jobId)})`, { field });
  }
  return jobId;
}

// The domain is named after the job, so any host can tell which job a domain belongs to.
export function buildDomainName(jobId: string): string {
  return `pbsve-${validateJobId(jobId).replace(/[[\]]/g, '_')}`;
}

// Orphan detection needs the reverse mapping; undefined means "not ours".
export function parseDomainName(domain: string): string | undefined {
  const match = /^pbsve-(.+)$/.exec(domain);
  if (match?.[1] === undefined) return undefined;
  const jobId = match[1].replace(/_([0-9]*)_/, '[$1]');
  return JOB_ID_PATTERN.test(jobId) ? jobId : undefined;
}
