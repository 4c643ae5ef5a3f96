// Slurm names a QOS/association limit by a reason code (sbatch's refusal, squeue's Reason): which limit, in words.

const LIMITS: readonly [RegExp, string][] = [
  [/MaxSubmitJob/i, 'the most VE jobs (pending and running) one user may have in the VE queue'],
  [/MaxJobsPerUser|MaxJobsLimit|MaxJobsPerAccount/i, 'the most VEs one user may run at once'],
  [/MaxCpuPerUser|MaxCpusPerUser|GrpCpu|MaxCpuPerAccount/i, 'the most vcpus one user\'s VEs may hold together'],
  [/MaxMemoryPerUser|MaxMemPerUser|GrpMem|MaxMemoryPerAccount/i, 'the most memory one user\'s VEs may hold together'],
  [/MaxNodePerUser|GrpNode/i, 'the most hosts one user\'s VEs may hold together'],
  [/MaxCpuPerJob|MaxMemoryPerJob|MaxMemPerJob|MaxNodePerJob|MaxTRESPerJob|MinCpu|MinMem/i, 'the size one VE may have'],
  [/MaxWall|GrpWall/i, 'the lease one user may hold'],
];

/** true for Slurm's QOS/association limit reason codes (QOSMaxCpuPerUserLimit, AssocMaxJobsLimit, QOSMaxMemoryPerUser ...) */
export function isSlurmLimitCode(code: string): boolean {
  return /^(QOS|Assoc)\w*(Limit|PerUser|PerAccount|PerJob|PerNode)\w*$/.test(code.trim());
}

/** the limit a code names, in words; a generic phrase for a code not known here */
export function describeSlurmLimit(code: string): string {
  const known = LIMITS.find(([pattern]) => pattern.test(code));
  const scope = /^Assoc/.test(code) ? 'Slurm association limit' : 'Slurm QOS limit';
  return `${known?.[1] ?? 'a per-user or queue limit'} (${scope} ${code.trim()})`;
}
