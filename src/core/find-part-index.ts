import { VeError } from './ve-error.js';

// Host names compare by their first label: TORQUE may say node1.example.org where the host says node1.
function shortHost(host: string): string {
  return (host.split('.')[0] ?? host).toLowerCase();
}

// One entry per host, first occurrence kept: TORQUE's exec_host names a host once per cpu slot.
export function listDistinctHosts(jobHosts: readonly string[]): string[] {
  const unique: string[] = [];
  for (const h of jobHosts) if (!unique.some((u) => shortHost(u) === shortHost(h))) unique.push(h);
  return unique;
}

/**
 * Which part of a multi-node VE this host realizes: its position in the job's host list (first
 * occurrence, duplicates dropped). The list must come from the batch system or the hook's own context
 * (Slurm SLURM_JOB_NODELIST, TORQUE exec_host), never from job variables the owner can set.
 */
export function findPartIndex(host: string, jobHosts: readonly string[]): number {
  const unique = listDistinctHosts(jobHosts);
  const index = unique.findIndex((h) => shortHost(h) === shortHost(host));
  if (index < 0) {
    throw new VeError('host-not-in-job', 'environment', `host ${host} is not among the job's hosts (${unique.join(',') || 'none'})`, { field: 'host' });
  }
  return index;
}
