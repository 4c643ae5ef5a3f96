// The Batch port on Slurm, through its native commands only (sbatch, squeue, sinfo, scontrol, scancel).
import path from 'node:path';
import { type CommandResult, type RunCommand, runCommand as defaultRunCommand } from '../core/run-command.js';
import { VeError, invalidField } from '../core/ve-error.js';
import type { AttachCommand, AttachRequest, Batch, BatchJob, BatchNode, SubmitRequest } from './batch.js';
import { checkAttachCommand } from './check-attach-command.js';
import { buildSlurmSbatchArgs } from './build-slurm-sbatch-args.js';
import { parseSlurmJobsJson } from './parse-slurm-jobs-json.js';
import { parseSlurmNodesJson } from './parse-slurm-nodes-json.js';
import { extractSlurmMessage, isSlurmUnreachable, translateSlurmError } from './translate-slurm-error.js';

export interface SlurmBatchOptions {
  /** slurm.conf for every command (SLURM_CONF); default: this process's SLURM_CONF, else Slurm's own default */
  readonly slurmConf?: string;
  /** directory of the Slurm client commands; default: found on PATH */
  readonly binDir?: string;
  /** per command; default 30 s */
  readonly timeoutMs?: number;
  readonly run?: RunCommand;
  /** submitting as another user is not supported: run pbs-ve as that user */
  readonly asUser?: never;
}

const JOB_ID = /^[0-9]{1,12}$/;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SBATCH_OUTPUT = /^([0-9]{1,12})(;[^\n]*)?\n?$/;

// Job ids reach scontrol/scancel as arguments: only plain numbers, never options or hostlists.
function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw invalidField('jobId', 'must be a Slurm job number', jobId);
}

// A node note becomes scontrol's Reason: one printable line, never empty (Slurm refuses drain without one),
// double quotes made single (scontrol drops a trailing one).
export function sanitizeSlurmReason(note: string): string {
  // eslint-disable-next-line no-control-regex
  const line = note.replace(/[\u0000-\u001f\u007f]+/g, ' ').replaceAll('"', "'").trim().slice(0, 250);
  return line === '' ? 'pbs-ve' : line;
}

// scontrol update of a node: an unknown name and a caller who may not (live 22.05 as a plain user:
// "slurm_update error: Invalid user id") are the request's fault, anything else the command's.
function translateNodeUpdateError(stderr: string): VeError {
  if (/invalid node name/i.test(stderr)) return translateSlurmError('scontrol update', stderr, 'batch-node-unknown', 'prereq');
  if (/invalid user id|access.*denied|permission denied/i.test(stderr)) {
    const e = translateSlurmError('scontrol update', stderr, 'batch-permission-denied', 'prereq');
    return e.code === 'batch-permission-denied' ? new VeError(e.code, e.kind, `${e.message}: only root, SlurmUser and Slurm operators may change a node`) : e;
  }
  return translateSlurmError('scontrol update', stderr, 'batch-command-failed', 'exec');
}

// Builds the Batch for one Slurm cluster; all commands share the same SLURM_CONF and timeout.
export function createSlurmBatch(options: SlurmBatchOptions = {}): Batch {
  const run = options.run ?? defaultRunCommand;
  const slurmConf = options.slurmConf ?? process.env['SLURM_CONF'];
  const env: Record<string, string> = slurmConf === undefined ? {} : { SLURM_CONF: slurmConf };
  const timeoutMs = options.timeoutMs ?? 30_000;

  // Bumped by every command that may change what slurmctld holds: a listing asked after it never joins
  // one started before it (read-your-writes within this process).
  let generation = 0;
  let sharedListing: { readonly generation: number; readonly jobs: Promise<BatchJob[]> } | undefined;

  // Runs one Slurm command; a timeout or missing binary means the batch system is not usable from here.
  async function slurm(command: string, args: readonly string[], input?: string): Promise<CommandResult> {
    if (command !== 'squeue' && command !== 'sinfo') generation += 1;
    const file = options.binDir === undefined ? command : path.join(options.binDir, command);
    try {
      return await run(file, args, { env, timeoutMs, ...(input === undefined ? {} : { input }) });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new VeError('batch-unavailable', 'environment', `${command}: ${reason}`, { cause: err });
    }
  }

  // Every job slurmctld remembers; squeue --json cannot filter on 22.05, so callers filter.
  async function listEveryJob(): Promise<BatchJob[]> {
    const result = await slurm('squeue', ['--json']);
    if (result.exitCode !== 0) throw translateSlurmError('squeue', result.stderr, 'batch-command-failed', 'exec');
    return parseSlurmJobsJson(result.stdout);
  }

  // That listing costs O(queue) on 22.05 (ve create asks it twice at once: the name check and the node
  // listing), so callers asking while one runs share it, unless a change was made since it started.
  function readAllJobs(): Promise<readonly BatchJob[]> {
    if (sharedListing?.generation === generation) return sharedListing.jobs;
    const entry = { generation, jobs: listEveryJob() };
    sharedListing = entry;
    const forget = (): void => { if (sharedListing === entry) sharedListing = undefined; };
    entry.jobs.then(forget, forget);
    return entry.jobs;
  }

  // scontrol on one job: an unknown job is the caller's mistake (prereq), anything else a failed command.
  async function scontrolOnJob(what: string, args: readonly string[]): Promise<void> {
    const result = await slurm('scontrol', args);
    if (result.exitCode !== 0) {
      const unknown = /invalid job id/i.test(result.stderr);
      throw translateSlurmError(`scontrol ${what}`, result.stderr, unknown ? 'batch-job-unknown' : 'batch-command-failed', unknown ? 'prereq' : 'exec');
    }
  }

  return {

    async submit(request: SubmitRequest): Promise<string> {
      const args = buildSlurmSbatchArgs(request);
      const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
      const as = asRoot ? request.submitAs : undefined;
      if (as !== undefined && !/^[a-z_][a-z0-9_.-]{0,31}$/.test(as)) throw invalidField('submitAs', 'must be a user name', as);
      const sbatch = options.binDir === undefined ? 'sbatch' : path.join(options.binDir, 'sbatch');
      generation += 1;
      const result = as === undefined
        ? await slurm('sbatch', args, request.script)
        : await run('runuser', ['-u', as, '--', sbatch, ...args], { env, timeoutMs, input: request.script }).catch((err: unknown) => {
          throw new VeError('batch-unavailable', 'environment', `sbatch as ${as}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        });
      if (result.exitCode !== 0) throw translateSlurmError('sbatch', result.stderr, 'batch-rejected', 'prereq');
      const match = SBATCH_OUTPUT.exec(result.stdout);
      if (!match?.[1]) {
        throw new VeError('batch-output-unparseable', 'exec', `sbatch printed no job id: ${JSON.stringify(result.stdout.slice(0, 200))}`);
      }
      return match[1];
    },

    async getJob(jobId: string): Promise<BatchJob | undefined> {
      checkJobId(jobId);
      return (await readAllJobs()).find((job) => job.jobId === jobId);
    },

    async listJobs(filter = {}): Promise<BatchJob[]> {
      return (await readAllJobs()).filter(
        (job) =>
          (filter.queue === undefined || job.queue === filter.queue) &&
          (filter.owner === undefined || job.owner === filter.owner),
      );
    },

    async cancel(jobId: string): Promise<void> {
      checkJobId(jobId);
      // scancel of an unknown or finished job exits 0 on 22.05: cancelling is idempotent
      const result = await slurm('scancel', [jobId]);
      if (result.exitCode !== 0) throw translateSlurmError('scancel', result.stderr, 'batch-command-failed', 'exec');
    },

    async listNodes(): Promise<BatchNode[]> {
      // the two listings are independent: side by side, `ve create` waits for one round trip, not two
      const [jobs, result] = await Promise.all([readAllJobs(), slurm('sinfo', ['--json'])]);
      if (result.exitCode !== 0) throw translateSlurmError('sinfo', result.stderr, 'batch-command-failed', 'exec');
      return parseSlurmNodesJson(result.stdout, jobs);
    },

    async setNodeOffline(node: string, note: string): Promise<void> {
      if (!NODE_NAME.test(node)) throw invalidField('node', 'must be one node name', node);
      const result = await slurm('scontrol', ['update', `NodeName=${node}`, 'State=DRAIN', `Reason=${sanitizeSlurmReason(note)}`]);
      if (result.exitCode !== 0) throw translateNodeUpdateError(result.stderr);
    },

    async setNodeOnline(node: string): Promise<void> {
      if (!NODE_NAME.test(node)) throw invalidField('node', 'must be one node name', node);
      const result = await slurm('scontrol', ['update', `NodeName=${node}`, 'State=RESUME']);
      if (result.exitCode !== 0) throw translateNodeUpdateError(result.stderr);
    },

    async requeue(jobId: string): Promise<void> {
      checkJobId(jobId);
      await scontrolOnJob('requeue', ['requeue', jobId]);
    },

    async moveJob(jobId: string, host: string): Promise<void> {
      checkJobId(jobId);
      if (!NODE_NAME.test(host)) throw invalidField('host', 'must be one host name', host);
      await scontrolOnJob('requeuehold', ['requeuehold', jobId]);
      // the requeue completes after the epilogue and gives the job a begin time some seconds ahead (lingering
      // processes); once it is pending, the move is not a new job: it may start at once, on the destination
      for (let i = 0; ; i++) {
        const job = await this.getJob(jobId);
        if (job === undefined) throw new VeError('batch-job-unknown', 'prereq', `Slurm lost job ${jobId} while requeueing it`);
        if (job.state === 'held' || job.state === 'queued') break;
        if (i >= 240) throw new VeError('batch-command-failed', 'exec', `job ${jobId}: still ${job.rawState} 120 s after scontrol requeuehold`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await scontrolOnJob('update', ['update', `JobId=${jobId}`, `NodeList=${host}`, 'StartTime=now']);
      await scontrolOnJob('release', ['release', jobId]);
    },

    async setTimeLimit(jobId: string, seconds: number): Promise<void> {
      checkJobId(jobId);
      // Slurm's TimeLimit is in whole minutes: round up, never give less than asked
      await scontrolOnJob('update TimeLimit', ['update', `JobId=${jobId}`, `TimeLimit=${Math.ceil(seconds / 60)}`]);
    },

    // Slurm lets a job's owner run a step in the running job (srun --jobid --overlap): no slot, no new job.
    // setsid --fork: at the end of a session ssh sends its ProxyCommand SIGHUP, which srun answers by cancelling
    // the step and printing "STEP CANCELLED ... task 0: Killed" on the user's terminal; in a session of its own
    // srun is not reached, and the command ends on its own when ssh closes the pipe (end of input).
    buildAttachCommand(request: AttachRequest): AttachCommand {
      checkJobId(request.jobId);
      if (!NODE_NAME.test(request.host)) throw invalidField('host', 'must be a Slurm node name', request.host);
      checkAttachCommand(request.command);
      const srun = options.binDir === undefined ? 'srun' : path.join(options.binDir, 'srun');
      return {
        argv: ['setsid', '--fork', srun, `--jobid=${request.jobId}`, '--overlap', '--nodes=1', '--ntasks=1', `--nodelist=${request.host}`, '--unbuffered', '--quiet', '--mem=0', ...request.command],
        terminal: false,
      };
    },

    async readJobScript(jobId: string): Promise<string | undefined> {
      checkJobId(jobId);
      // write batch_script reports its failures on stderr but exits 0 on 22.05
      const result = await slurm('scontrol', ['write', 'batch_script', jobId, '-']);
      const failed = result.exitCode !== 0 || /retrieval failed|error/i.test(result.stderr);
      if (!failed) return result.stdout;
      if (isSlurmUnreachable(result.stderr)) throw translateSlurmError('scontrol write batch_script', result.stderr, 'batch-command-failed', 'exec');
      if (/invalid job id|no batch script/i.test(result.stderr)) return undefined;
      if (/invalid user id|access.*denied|permission/i.test(result.stderr)) {
        throw new VeError('batch-permission-denied', 'prereq', `scontrol write batch_script: ${extractSlurmMessage(result.stderr)} (root only)`);
      }
      throw translateSlurmError('scontrol write batch_script', result.stderr, 'batch-command-failed', 'exec');
    },
  };
}
