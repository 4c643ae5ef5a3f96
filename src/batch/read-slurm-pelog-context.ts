// A Slurm node Prolog/Epilog learns about its job only from SLURM_* variables (no argv, no PATH).
import { VeError } from '../core/ve-error.js';
import type { JobResources, PelogContext } from './batch.js';
import { expandSlurmHostlist } from './expand-slurm-hostlist.js';
import { splitSlurmFeatures } from './parse-slurm-jobs-json.js';

type PelogEnv = Readonly<Record<string, string | undefined>>;

const JOB_ID = /^[0-9]{1,12}$/;
const CPUS_PER_NODE_ITEM = /^(\d+)(?:\(x(\d+)\))?$/;
const EXIT_CODE2 = /^(\d+):(\d+)$/;

// A required variable, or a prereq error naming it: the hook was not started by slurmd as a Prolog/Epilog.
function requireVariable(env: PelogEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new VeError('pelog-context-missing', 'prereq', `${name} is not set: not run as a Slurm Prolog/Epilog?`, { field: name });
  }
  return value;
}

// Empty strings from the environment mean "not given".
function optionalVariable(env: PelogEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

// "2(x3),1" (cpus per node, run-length coded) -> 7: the job's whole cpu count as the port counts it.
export function sumSlurmCpusPerNode(text: string): number | undefined {
  let total = 0;
  for (const item of text.split(',')) {
    const m = CPUS_PER_NODE_ITEM.exec(item.trim());
    if (!m?.[1]) return undefined;
    total += Number(m[1]) * (m[2] === undefined ? 1 : Number(m[2]));
  }
  return total;
}

// The Epilog's job exit as a shell would see it: "3:0" -> 3, "0:9" -> 137; falls back to the raw wait status.
export function readSlurmEpilogExitStatus(env: PelogEnv): number | undefined {
  const pair = EXIT_CODE2.exec(env['SLURM_JOB_EXIT_CODE2'] ?? '');
  if (pair?.[1] !== undefined && pair[2] !== undefined) {
    const signal = Number(pair[2]);
    return signal !== 0 ? 128 + signal : Number(pair[1]);
  }
  const raw = env['SLURM_JOB_EXIT_CODE'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const status = Number(raw);
  return (status & 0x7f) !== 0 ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
}

// What slurmd passed: job id, user, partition, this node, the allocation (sister = not its first node).
export function readSlurmPelogContext(env: PelogEnv, kind: 'prolog' | 'epilog'): PelogContext {
  const jobId = requireVariable(env, 'SLURM_JOB_ID');
  if (!JOB_ID.test(jobId)) throw new VeError('pelog-context-missing', 'prereq', `SLURM_JOB_ID is not a job number (got ${JSON.stringify(jobId)})`, { field: 'SLURM_JOB_ID' });
  const context = optionalVariable(env, 'SLURM_SCRIPT_CONTEXT');
  if (context !== undefined && context !== `${kind}_slurmd`) {
    throw new VeError('pelog-context-mismatch', 'prereq', `run as ${context}, expected ${kind}_slurmd (check Prolog=/Epilog= in slurm.conf)`, {
      field: 'SLURM_SCRIPT_CONTEXT',
    });
  }
  const user = requireVariable(env, 'SLURM_JOB_USER');
  const host = requireVariable(env, 'SLURMD_NODENAME');
  const nodeList = optionalVariable(env, 'SLURM_JOB_NODELIST') ?? optionalVariable(env, 'SLURM_NODELIST');
  const hosts = nodeList === undefined ? [] : expandSlurmHostlist(nodeList);
  const cpusText = optionalVariable(env, 'SLURM_JOB_CPUS_PER_NODE');
  const cpus = cpusText === undefined ? undefined : sumSlurmCpusPerNode(cpusText);
  const nodeCountText = optionalVariable(env, 'SLURM_JOB_NUM_NODES');
  const constraints = optionalVariable(env, 'SLURM_JOB_CONSTRAINTS');
  const resources: { -readonly [K in keyof JobResources]?: JobResources[K] } = {};
  if (cpus !== undefined) resources.cpus = cpus;
  if (nodeCountText !== undefined && /^\d+$/.test(nodeCountText)) resources.nodeCount = Number(nodeCountText);
  if (constraints !== undefined) resources.features = splitSlurmFeatures(constraints);
  return {
    jobId,
    user,
    group: optionalVariable(env, 'SLURM_JOB_GROUP'),
    jobName: optionalVariable(env, 'SLURM_JOB_NAME'),
    queue: optionalVariable(env, 'SLURM_JOB_PARTITION'),
    host,
    scriptPath: undefined,
    exitStatus: kind === 'epilog' ? readSlurmEpilogExitStatus(env) : undefined,
    resources: Object.keys(resources).length === 0 ? undefined : resources,
    sister: hosts.length > 0 && hosts[0] !== host,
    // set by slurmd, not by the job's owner: the trusted host list a part index is taken from
    ...(hosts.length > 0 ? { jobHosts: hosts } : {}),
  };
}
