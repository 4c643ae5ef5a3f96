// The Batch port on TORQUE: qsub/qstat/qdel/pbsnodes/qrerun through runCommand, XML output parsed here.
import { formatWalltime } from '../core/parse-size.js';
import { join } from 'node:path';
import type { AttachCommand, AttachRequest, Batch, BatchJob, BatchNode, SubmitRequest } from './batch.js';
import { checkAttachCommand } from './check-attach-command.js';
import { buildTorqueQsubArgs } from './build-torque-qsub-args.js';
import { findTorqueSlots } from './torque-slots.js';
import { classifyTorqueFailure, isTorqueUnknownJob } from './classify-torque-failure.js';
import { parsePbsnodesXml } from './parse-pbsnodes-xml.js';
import { parseQstatXml } from './parse-qstat-xml.js';
import { torqueParseError } from './torque-parse-error.js';
import { isTorqueJobId } from './torque-job-id.js';
import { runCommand, type CommandOptions, type CommandResult, type RunCommand } from '../core/run-command.js';
import { VeError, invalidField } from '../core/ve-error.js';
import { setTimeout as waitMs } from 'node:timers/promises';

export interface TorqueBatchOptions {
  /** directory of the TORQUE clients; default: found on the safe PATH of runCommand */
  readonly binDir?: string;
  /** pbs_server to talk to (PBS_DEFAULT); default: the client's server_name file */
  readonly server?: string;
  readonly timeoutMs?: number;
  /** for tests: a fake that returns recorded TORQUE output */
  readonly run?: RunCommand;
  /** qsub refuses root: root callers (pelog event sinks) submit as this account through runuser */
  readonly submitAs?: string;
  /** TORQUE slots (np, ppn) per pbs-ve cpu; default 1, TORQUE's own count (docs/design.md, "Capacity") */
  readonly slotsPerCpu?: number;
  /** buildAttachCommand: a text script that runs its arguments (qsub -x wants a script file first; scripts/exec-command.sh) */
  readonly commandScript?: string;
}

type TorqueCommand = 'qsub' | 'qstat' | 'qdel' | 'pbsnodes' | 'qrerun' | 'qalter' | 'qhold' | 'qrls';

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
const NODE_LIST_EMPTY = /node list is empty|has no node list/i;
const UNKNOWN_NODE = /Unknown node|cannot locate specified node/i;
const JOB_ALREADY_COMPLETE = /invalid state for job - COMPLETE/i;
const REJECTED_BY_MOM = /Rejected by mom/i;
/** pbsnodes 6.1 applies -o/-c/-N at its end and prints a refusal as "Error setting note attribute for <node> - <why>" while exiting 0 */
const PBSNODES_SET_FAILED = /Error setting \S+ (?:\S+ )?(?:attribute|state) for /i;
const UNAUTHORIZED = /Unauthorized Request/i;
/** how often setTimeLimit asks qstat whether the server holds the new walltime while qalter has not answered */
const QALTER_POLL_MS = 500;
/** PBSE_MOMREJECT (15043) & 255: qrerun of a job whose MOM does not answer */
const PBSE_MOMREJECT_RC = 195;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

// A command word as a job variable value (no ',' '=' '%' there): scripts/exec-command.sh undoes it with sed.
export function encodeCommandWord(word: string): string {
  return word.replaceAll('@', '@40').replaceAll('%', '@25').replaceAll('=', '@3D').replaceAll(',', '@2C');
}

// Job ids come from users and inventories; a bad one must not reach a TORQUE client as an option.
function checkJobId(jobId: string): void {
  if (!isTorqueJobId(jobId)) throw invalidField('jobId', 'must be a TORQUE job id such as 14.vm', jobId.slice(0, 80));
}

// A pbsnodes change succeeded only when it exited 0 AND said nothing went wrong (live TORQUE 6.1: a
// non-manager's `pbsnodes -o` exits 0 and changes nothing; src/cmds/pbsnodes.c ignores the server's answer).
function checkPbsnodesChange(node: string, args: readonly string[], result: CommandResult): void {
  const output = `${result.stderr}\n${result.stdout}`;
  if (result.exitCode === 0 && !PBSNODES_SET_FAILED.test(output) && !UNAUTHORIZED.test(output)) return;
  if (UNKNOWN_NODE.test(output)) throw new VeError('batch-node-unknown', 'prereq', `TORQUE does not know node ${node}`, { details: { node } });
  if (UNAUTHORIZED.test(output)) {
    throw new VeError('batch-permission-denied', 'prereq', `pbsnodes ${args.join(' ')}: TORQUE refused (Unauthorized Request): only its managers and operators may change a node`, { details: { node } });
  }
  if (result.exitCode === 0) throw new VeError('batch-command-failed', 'exec', `pbsnodes ${args.join(' ')}: ${output.replace(/\s+/g, ' ').trim().slice(0, 400)}`, { details: { node } });
  throw classifyTorqueFailure('pbsnodes', args, result);
}

// One Batch per server; every call is a fresh client process, so the object holds no state.
export function createTorqueBatch(options: TorqueBatchOptions = {}): Batch {
  const run = options.run ?? runCommand;
  const slotsPerCpu = options.slotsPerCpu ?? 1;

  // Every client gets the same environment and timeout so behaviour does not depend on the caller's shell.
  const exec = async (command: TorqueCommand, args: readonly string[], input?: string, cancelSignal?: AbortSignal): Promise<CommandResult> => {
    const commandOptions: CommandOptions = {
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.server === undefined ? {} : { env: { PBS_DEFAULT: options.server } }),
      ...(input === undefined ? {} : { input }),
      ...(cancelSignal === undefined ? {} : { cancelSignal }),
    };
    try {
      return await run(options.binDir === undefined ? command : join(options.binDir, command), args, commandOptions);
    } catch (err) {
      // a client that cannot start or does not answer in time: the batch system is not usable from here
      const reason = err instanceof Error ? err.message : String(err);
      throw new VeError('batch-unavailable', 'environment', `${command}: ${reason}`, { cause: err });
    }
  };

  // TORQUE's qsub exits "qsub can not be run as root": root hooks hand the submission to a service account
  const submitQsub = (args: readonly string[], script: string, requestAs: string | undefined): Promise<CommandResult> => {
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const user = requestAs ?? options.submitAs;
    if (!asRoot || user === undefined) return exec('qsub', args, script);
    if (!/^[a-z_][a-z0-9_.-]{0,31}$/.test(user)) throw invalidField('submitAs', 'must be a user name', user);
    const qsub = options.binDir === undefined ? 'qsub' : join(options.binDir, 'qsub');
    return run('runuser', ['-u', user, '--', qsub, ...args], {
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.server === undefined ? {} : { env: { PBS_DEFAULT: options.server } }),
      input: script,
    });
  };

  const getJob = async (jobId: string): Promise<BatchJob | undefined> => {
    checkJobId(jobId);
    const args = ['-f', '-x', jobId];
    const result = await exec('qstat', args);
    if (result.exitCode !== 0) {
      if (isTorqueUnknownJob(result)) return undefined;
      throw classifyTorqueFailure('qstat', args, result);
    }
    // 14, 14.vm and 14.vm.example.org name the same job on one server: compare the sequence part
    const sequence = jobId.split('.')[0];
    return parseQstatXml(result.stdout, slotsPerCpu).find((job) => job.jobId.split('.')[0] === sequence);
  };

  return {

    async submit(request: SubmitRequest): Promise<string> {
      const args = buildTorqueQsubArgs(request, options.server, slotsPerCpu);
      const result = await submitQsub(args, request.script, request.submitAs);
      if (result.exitCode !== 0) throw classifyTorqueFailure('qsub', args, result);
      const jobId = result.stdout.trim().split('\n')[0]?.trim() ?? '';
      if (!isTorqueJobId(jobId)) throw torqueParseError('qsub output', `no job id (got ${JSON.stringify(result.stdout.slice(0, 200))})`);
      return jobId;
    },

    getJob,

    async listJobs(filter = {}): Promise<BatchJob[]> {
      const args = ['-f', '-x'];
      const result = await exec('qstat', args);
      if (result.exitCode !== 0) throw classifyTorqueFailure('qstat', args, result);
      return parseQstatXml(result.stdout, slotsPerCpu).filter(
        (job) => (filter.queue === undefined || job.queue === filter.queue) && (filter.owner === undefined || job.owner === filter.owner),
      );
    },

    async cancel(jobId: string): Promise<void> {
      checkJobId(jobId);
      const args = [jobId];
      const result = await exec('qdel', args);
      if (result.exitCode === 0) return;
      // already gone or already finished: the caller wanted it not running, and it is not
      if (isTorqueUnknownJob(result) || JOB_ALREADY_COMPLETE.test(`${result.stderr}\n${result.stdout}`)) return;
      throw classifyTorqueFailure('qdel', args, result);
    },

    async listNodes(): Promise<BatchNode[]> {
      const args = ['-x'];
      const result = await exec('pbsnodes', args);
      if (result.exitCode !== 0) {
        if (NODE_LIST_EMPTY.test(`${result.stderr}\n${result.stdout}`)) return [];
        throw classifyTorqueFailure('pbsnodes', args, result);
      }
      return parsePbsnodesXml(result.stdout, slotsPerCpu);
    },

    async setNodeOffline(node: string, note: string): Promise<void> {
      if (!NODE_NAME.test(node)) throw invalidField('node', 'must be a host name', node.slice(0, 80));
      if (note.length > 1024 || CONTROL.test(note)) throw invalidField('note', 'must be one line of at most 1024 characters');
      const args = ['-o', '-N', note, node];
      checkPbsnodesChange(node, args, await exec('pbsnodes', args));
    },

    async setNodeOnline(node: string): Promise<void> {
      if (!NODE_NAME.test(node)) throw invalidField('node', 'must be a host name', node.slice(0, 80));
      // -c clears OFFLINE; "-N n" is pbsnodes' own spelling of an empty note (TORQUE 6.1 src/cmds/pbsnodes.c)
      const args = ['-c', '-N', 'n', node];
      checkPbsnodesChange(node, args, await exec('pbsnodes', args));
    },

    // Live TORQUE 6.1: qalter -l of a RUNNING job never answers. pbs_server saves the new limit, relays it
    // to the MOM (which applies it), then loses the job in relay_to_mom and writes its reply to the MOM's
    // closed connection ("Job not found (15086) in modify_job", "DIS reply failure"). So the server's own
    // word (qstat) that it holds the limit ends the wait; a refusal (Unauthorized Request) still comes back.
    async setTimeLimit(jobId: string, seconds: number): Promise<void> {
      checkJobId(jobId);
      const args = ['-l', `walltime=${formatWalltime(seconds)}`, jobId];
      const cancel = new AbortController();
      const answered = exec('qalter', args, undefined, cancel.signal);
      answered.catch(() => undefined);
      try {
        for (;;) {
          const result = await Promise.race([answered, waitMs(QALTER_POLL_MS)]);
          if (result !== undefined) {
            if (result.exitCode === 0) return;
            if (isTorqueUnknownJob(result)) throw new VeError('batch-job-unknown', 'prereq', `TORQUE does not know job ${jobId}`, { details: { jobId } });
            throw classifyTorqueFailure('qalter', args, result);
          }
          const job = await getJob(jobId);
          if (job === undefined) throw new VeError('batch-job-unknown', 'prereq', `TORQUE does not know job ${jobId}`, { details: { jobId } });
          if (job.state === 'running' && job.resources.walltimeSeconds === seconds) return;
        }
      } finally {
        cancel.abort();
      }
    },

    async moveJob(jobId: string, host: string): Promise<void> {
      checkJobId(jobId);
      if (!NODE_NAME.test(host)) throw invalidField('host', 'must be one host name', host);
      const before = await getJob(jobId);
      if (before === undefined) throw new VeError('batch-job-unknown', 'prereq', `TORQUE does not know job ${jobId}`, { details: { jobId } });
      const run = async (command: TorqueCommand, args: readonly string[]): Promise<void> => {
        const result = await exec(command, args);
        if (result.exitCode !== 0) throw classifyTorqueFailure(command, args, result);
      };
      // an operator hold on the running job (no checkpointing: it keeps running) holds it once requeued
      await run('qhold', ['-h', 'o', jobId]);
      await run('qrerun', [jobId]);
      // qrerun returns before the MOM has ended the job: it is pinned only once it is back in the queue
      for (let i = 0; ; i++) {
        const job = await getJob(jobId);
        if (job === undefined) throw new VeError('batch-job-unknown', 'prereq', `TORQUE lost job ${jobId} while requeueing it`, { details: { jobId } });
        if (job.state === 'held' || job.state === 'queued') break;
        if (i >= 240) throw new VeError('batch-command-failed', 'exec', `job ${jobId}: still ${job.rawState} 120 s after qrerun`);
        await waitMs(QALTER_POLL_MS);
      }
      const features = before.resources.features.filter((f) => /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(f));
      const ppn = findTorqueSlots(Math.floor(before.resources.cpus / Math.max(1, before.resources.nodeCount)), slotsPerCpu);
      await run('qalter', ['-l', `nodes=${host}:ppn=${ppn}${features.map((f) => `:${f}`).join('')}`, jobId]);
      await run('qrls', ['-h', 'o', jobId]);
    },

    async requeue(jobId: string, requeueOptions = {}): Promise<void> {
      checkJobId(jobId);
      // a dead MOM cannot agree to the rerun (live TORQUE 6.1: exit 195 "Rejected by mom"); -f does without it
      const args = requeueOptions.hostDown === true ? ['-f', jobId] : [jobId];
      const result = await exec('qrerun', args);
      if (result.exitCode === 0) return;
      if (isTorqueUnknownJob(result)) {
        throw new VeError('batch-job-unknown', 'prereq', `TORQUE does not know job ${jobId}`, { details: { jobId } });
      }
      if (result.exitCode === PBSE_MOMREJECT_RC || REJECTED_BY_MOM.test(`${result.stderr}\n${result.stdout}`)) {
        throw new VeError('batch-rejected-by-mom', 'exec', `qrerun ${args.join(' ')}: the MOM of job ${jobId} refused the rerun (is its host down? then fence it and requeue with hostDown)`, { details: { jobId, exitCode: result.exitCode } });
      }
      throw classifyTorqueFailure('qrerun', args, result);
    },

    // No owner can join a running TORQUE job from outside, but can start an interactive job of one slot on its host
    // (the op job's size, so the slot accounting is the op jobs'): qsub -I -x runs the command there on a pty that
    // qsub relays to its own stdin/stdout, pipes included. -x runs one word (a script file; live 6.1 drops the
    // rest), so the words travel as job variables that scripts/exec-command.sh runs. The prologue finds no
    // script file for an interactive job: no VE, no op.
    buildAttachCommand(request: AttachRequest): AttachCommand {
      checkJobId(request.jobId);
      if (options.commandScript === undefined) throw new VeError('attach-unsupported', 'prereq', 'TORQUE: attaching to a job needs the exec-command script (commandScript)');
      checkAttachCommand(request.command);
      const variables: Record<string, string> = { PBS_VE_ARGC: String(request.command.length) };
      request.command.forEach((word, i) => { variables[`PBS_VE_ARG_${i + 1}`] = encodeCommandWord(word); });
      const args = buildTorqueQsubArgs({
        // like an op job: no cpu of its own, the host's operation slot (docs/design.md, "Capacity")
        name: request.name, queue: request.queue, cpus: 0, memoryMiB: request.memoryMiB, walltimeSeconds: request.walltimeSeconds,
        features: [], nodeCount: 1, nodeList: [request.host], variables, script: '#!/bin/sh\n', shell: '/bin/sh',
      }, options.server, slotsPerCpu);
      const qsub = options.binDir === undefined ? 'qsub' : join(options.binDir, 'qsub');
      return { argv: [qsub, ...args, '-I', '-x', options.commandScript], terminal: true };
    },

    // TORQUE clients cannot fetch a job script; the prologue gets its path as $8 instead.
    readJobScript(jobId: string): Promise<string | undefined> {
      checkJobId(jobId);
      return Promise.resolve(undefined);
    },
  };
}
