// What integration tests do to the sandbox's batch system besides using pbs-ve: look at the queue through
// pbs-ve's own Batch port, stop the VE queue, submit hand-made jobs as a user, ask whether a node was drained.
// One implementation per backend, so a test file runs unchanged on Slurm and on TORQUE.
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openBatch } from '../../src/config/open-adapters.js';
import type { Batch, BatchJob, BatchNode } from '../../src/batch/batch.js';
import { runTorqueSandboxScript, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { killSandboxSlurmd, startSandboxSlurmd } from './sandbox-nodes.js';
import { DEFAULT_SLOTS_PER_CPU, findTorqueSlots } from '../../src/batch/torque-slots.js';

export interface RawJob {
  /** the submitting user (TORQUE's qsub refuses root) */
  readonly user: string;
  readonly name: string;
  readonly script: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly minutes: number;
  /** node feature / property, e.g. lxc */
  readonly feature?: string;
  /** absolute path of the job's output file (stdout and stderr) */
  readonly output: string;
  /** Slurm only: the job comment (a TORQUE owner cannot set one) */
  readonly comment?: string;
  /** job environment variables (Slurm --export, TORQUE -v: its Variable_List) */
  readonly variables?: Readonly<Record<string, string>>;
}

/** what an owner may change in their own job (Slurm: scontrol update comment=; TORQUE: qalter -v) */
export interface OwnerEdit {
  readonly comment?: string;
  readonly variables?: Readonly<Record<string, string>>;
}

export interface BatchControl {
  readonly kind: 'slurm' | 'torque';
  /** a job id as `ve create` prints it */
  readonly jobIdPattern: RegExp;
  /** pbs-ve's Batch port on the submit host's configuration */
  readonly batch: Batch;
  listJobs(): Promise<BatchJob[]>;
  /** the job is finished or no longer known */
  isJobDone(jobId: string): Promise<boolean>;
  listNodes(): Promise<BatchNode[]>;
  /** nodes drained / offline / down, with their notes */
  listUnavailableNodes(): Promise<string[]>;
  /** nothing of the VE queue starts until startVeQueue */
  stopVeQueue(): Promise<void>;
  startVeQueue(): Promise<void>;
  /** submits a hand-made job as `user`; returns its id */
  submitRaw(job: RawJob): Promise<string>;
  /** the owner edits their job as the batch system lets them */
  editAsOwner(user: string, jobId: string, edit: OwnerEdit): Promise<void>;
  /** marks a node usable again after a test drained it */
  resumeNode(node: string): Promise<void>;
  /** no new job goes to the node (Slurm drain, TORQUE offline) */
  drainNode(node: string, note: string): Promise<void>;
  /** the host dies: its batch daemon and the job processes under it are SIGKILLed; returns the pids */
  killNode(node: string): Promise<number[]>;
  /** its batch daemon starts again */
  startNode(node: string): Promise<void>;
}

// The sandbox's own clients with its environment; failures are test failures, so they throw with output.
async function run(file: string, args: readonly string[], env: Readonly<Record<string, string>>, input?: string): Promise<string> {
  const r = await runCommand(file, args, { env, timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function openBatchControl(info: SandboxInfo): BatchControl {
  const batch = openBatch(loadConfig(info.configDir));
  const common = {
    batch,
    listJobs: () => batch.listJobs(),
    listNodes: () => batch.listNodes(),
    async isJobDone(jobId: string) {
      const job = await batch.getJob(jobId);
      return job === undefined || job.state === 'completed';
    },
    async listUnavailableNodes() {
      return (await batch.listNodes()).filter((n) => n.state === 'offline' || n.state === 'down').map((n) => `${n.name} ${n.rawState} ${n.note ?? ''}`);
    },
  };
  if (info.batch === 'slurm') {
    const env = info.env;
    return {
      ...common,
      kind: 'slurm',
      jobIdPattern: /^[0-9]+$/,
      async stopVeQueue() { await run('scontrol', ['update', 'partitionname=batch', 'state=down'], env); },
      async startVeQueue() { await run('scontrol', ['update', 'partitionname=batch', 'state=up'], env); },
      async submitRaw(job) {
        const args = ['--parsable', '-p', 'batch', '-J', job.name, `--cpus-per-task=${job.cpus}`, `--mem=${job.memoryMiB}M`, `--time=${job.minutes}`, `--output=${job.output}`,
          ...(job.feature === undefined ? [] : [`--constraint=${job.feature}`]), ...(job.comment === undefined ? [] : [`--comment=${job.comment}`]),
          ...(job.variables === undefined ? [] : [`--export=${['ALL', ...Object.entries(job.variables).map(([k, v]) => `${k}=${v}`)].join(',')}`])];
        const out = job.user === 'root'
          ? await run('sbatch', args, env, job.script)
          : await run('runuser', ['-u', job.user, '--', 'sbatch', ...args], env, job.script);
        return out.trim().split(';')[0] ?? '';
      },
      async editAsOwner(user, jobId, edit) {
        if (edit.variables !== undefined) throw new Error('Slurm: a running job\'s environment cannot be changed');
        if (edit.comment !== undefined) await run('runuser', ['-u', user, '--', 'scontrol', 'update', `jobid=${jobId}`, `comment=${edit.comment}`], env);
      },
      async resumeNode(node) { await run('scontrol', ['update', `nodename=${node}`, 'state=resume'], env); },
      async drainNode(node, note) { await run('scontrol', ['update', `nodename=${node}`, 'state=drain', `reason=${note}`], env); },
      killNode: (node) => killSandboxSlurmd(info.dir, node, { withJobs: true }),
      startNode: (node) => startSandboxSlurmd(info.dir, node),
    };
  }
  const bin = info.torque?.binDir ?? '/opt/torque/bin';
  const env = info.env;
  return {
    ...common,
    kind: 'torque',
    jobIdPattern: /^[0-9]+\.[A-Za-z0-9.-]+$/,
    async stopVeQueue() { await run(join(bin, 'qmgr'), ['-c', 'set queue batch started = False'], env); },
    async startVeQueue() { await run(join(bin, 'qmgr'), ['-c', 'set queue batch started = True'], env); },
    async submitRaw(job) {
      const resources = [`nodes=1:ppn=${findTorqueSlots(job.cpus, DEFAULT_SLOTS_PER_CPU)}${job.feature === undefined ? '' : `:${job.feature}`}`, `mem=${job.memoryMiB}mb`, `walltime=00:${String(job.minutes).padStart(2, '0')}:00`];
      if (job.comment !== undefined) throw new Error('TORQUE: a job owner cannot set a comment (qalter -W comment is refused, rc 155)');
      const args = ['-q', 'batch', '-N', job.name, '-l', resources.join(','), '-j', 'oe', '-o', job.output, '-d', '/tmp',
        ...(job.variables === undefined ? [] : ['-v', Object.entries(job.variables).map(([k, v]) => `${k}=${v}`).join(',')])];
      const out = await run('runuser', ['-u', job.user, '--', join(bin, 'qsub'), ...args], env, job.script);
      return out.trim();
    },
    async editAsOwner(user, jobId, edit) {
      if (edit.comment !== undefined) throw new Error('TORQUE: a job owner cannot set a comment (qalter -W comment is refused, rc 155)');
      if (edit.variables !== undefined) await run('runuser', ['-u', user, '--', join(bin, 'qalter'), '-v', Object.entries(edit.variables).map(([k, v]) => `${k}=${v}`).join(','), jobId], env);
    },
    async resumeNode(node) { await run(join(bin, 'pbsnodes'), ['-c', node], env); },
    async drainNode(node, note) { await run(join(bin, 'pbsnodes'), ['-o', '-N', note, node], env); },
    async killNode(node) {
      const out = await runTorqueSandboxScript(info, ['kill-mom', node]);
      return (/^KILLED=(.*)$/m.exec(out)?.[1] ?? '').split(' ').filter((p) => p !== '').map(Number);
    },
    async startNode(node) { await runTorqueSandboxScript(info, ['start-mom', node]); },
  };
}
