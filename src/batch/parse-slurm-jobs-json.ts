// `squeue --json` is the one Slurm 22.05 job listing whose hostile fields (name, comment) cannot be forged.
import { explainSlurmWaitReason } from './explain-wait-reason.js';
import type { BatchJob, JobState } from './batch.js';
import { expandSlurmHostlist } from './expand-slurm-hostlist.js';
import {
  type JsonObject,
  parseSlurmJson,
  readNumber,
  readObjectArray,
  readString,
} from './slurm-json-fields.js';

const COMPLETED_STATES = new Set([
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'OUT_OF_MEMORY',
  'OOM',
  'REVOKED',
]);
const RUNNING_STATES = new Set(['RUNNING', 'CONFIGURING', 'RESIZING', 'SIGNALING']);
const EXITING_STATES = new Set(['COMPLETING', 'STAGE_OUT']);
const QUEUED_STATES = new Set(['PENDING', 'REQUEUED', 'REQUEUE_FED']);
const HELD_STATES = new Set(['REQUEUE_HOLD', 'SPECIAL_EXIT', 'RESV_DEL_HOLD']);

// Slurm keeps a held job PENDING with priority 0 and a JobHeld*/requeued-held reason: that is TORQUE's H.
export function mapSlurmJobState(jobState: string, reason: string, priority: number | undefined): JobState {
  const state = jobState.toUpperCase();
  if (QUEUED_STATES.has(state)) {
    const held = reason.startsWith('JobHeld') || /requeued held/i.test(reason) || priority === 0;
    return held ? 'held' : 'queued';
  }
  if (HELD_STATES.has(state)) return 'held';
  if (RUNNING_STATES.has(state)) return 'running';
  if (EXITING_STATES.has(state)) return 'exiting';
  if (COMPLETED_STATES.has(state)) return 'completed';
  return 'other';
}

// Slurm stores the wait(2) status; callers want the shell's view (exit code, or 128 + signal).
export function decodeSlurmExitCode(waitStatus: number): number {
  const signal = waitStatus & 0x7f;
  return signal !== 0 ? 128 + signal : (waitStatus >> 8) & 0xff;
}

// A constraint expression ("kvm&lxc", "[a|b]*2") reduced to the feature names it mentions.
export function splitSlurmFeatures(expression: string): string[] {
  return expression
    .split(/[&|,]/)
    .map((f) => f.replace(/[[\]()!]/g, '').replace(/\*\d+$/, '').trim())
    .filter((f) => f !== '');
}

// Memory as the job asked for it per node (that is what --mem=<N>M sets), else from the per-cpu request.
function readJobMemoryMiB(job: JsonObject, cpus: number, nodeCount: number): number | undefined {
  const perNode = readNumber(job, 'memory_per_node');
  if (perNode !== undefined && perNode > 0) return perNode;
  const perCpu = readNumber(job, 'memory_per_cpu');
  if (perCpu !== undefined && perCpu > 0) return Math.round((perCpu * cpus) / Math.max(nodeCount, 1));
  return undefined;
}

// Hosts with the batch host (Slurm's mother superior) first.
function readExecHosts(job: JsonObject): string[] {
  const hosts = expandSlurmHostlist(readString(job, 'nodes'));
  const batchHost = readString(job, 'batch_host');
  if (batchHost === '' || !hosts.includes(batchHost)) return hosts;
  return [batchHost, ...hosts.filter((h) => h !== batchHost)];
}

// scancel and the time limit leave their own state words (also while the job is still completing).
function readSlurmEndCause(rawState: string): Pick<BatchJob, 'endCause'> {
  const words = rawState.toUpperCase();
  if (/\bCANCELLED\b/.test(words)) return { endCause: 'cancelled' };
  if (/\b(TIMEOUT|DEADLINE)\b/.test(words)) return { endCause: 'lease-expired' };
  return {};
}

// One squeue --json job object in the port's terms.
export function toBatchJob(job: JsonObject): BatchJob {
  const rawState = readString(job, 'job_state');
  const state = mapSlurmJobState(rawState, readString(job, 'state_reason'), readNumber(job, 'priority'));
  const started = state === 'running' || state === 'exiting' || state === 'completed';
  const cpus = readNumber(job, 'cpus') ?? 0;
  const nodeCount = readNumber(job, 'node_count') ?? 1;
  const timeLimitMinutes = readNumber(job, 'time_limit');
  const exitCode = readNumber(job, 'exit_code');
  const startTime = readNumber(job, 'start_time');
  const submitTime = readNumber(job, 'submit_time');
  const comment = readString(job, 'comment');
  const waitReason = state === 'queued' || state === 'held' ? explainSlurmWaitReason(readString(job, 'state_reason')) : undefined;
  return {
    jobId: String(readNumber(job, 'job_id') ?? ''),
    name: readString(job, 'name'),
    owner: readString(job, 'user_name'),
    state,
    rawState,
    queue: readString(job, 'partition'),
    execHosts: started ? readExecHosts(job) : [],
    variables: {},
    comment: comment === '' ? undefined : comment,
    resources: {
      cpus,
      memoryMiB: readJobMemoryMiB(job, cpus, nodeCount),
      walltimeSeconds: timeLimitMinutes === undefined ? undefined : timeLimitMinutes * 60,
      nodeCount,
      features: splitSlurmFeatures(readString(job, 'features')),
    },
    startCount: (readNumber(job, 'restart_cnt') ?? 0) + (started ? 1 : 0),
    exitStatus: (state === 'completed' || state === 'exiting') && exitCode !== undefined ? decodeSlurmExitCode(exitCode) : undefined,
    ...readSlurmEndCause(rawState),
    submitTime: submitTime !== undefined && submitTime > 0 ? submitTime : undefined,
    startTime: started && startTime !== undefined && startTime > 0 ? startTime : undefined,
    ...(waitReason === undefined ? {} : { waitReason }),
  };
}

// Every job slurmctld still remembers (squeue --json ignores its filter options on 22.05).
export function parseSlurmJobsJson(text: string): BatchJob[] {
  const dump = parseSlurmJson(text, 'squeue');
  return readObjectArray(dump, 'jobs', 'squeue')
    .filter((job) => readNumber(job, 'job_id') !== undefined)
    .map(toBatchJob);
}
