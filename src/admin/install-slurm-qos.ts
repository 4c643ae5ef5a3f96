// `ve admin install server` on Slurm: the per-user limits (config limits) as pbs-ve's own QOS, through sacctmgr.
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand as defaultRunCommand, type RunCommand } from '../core/run-command.js';
import type { UserLimits } from '../config/pbs-ve-config.js';

/** pbs-ve's QOS: the VE partition's QOS=, so its limits govern VE jobs only (not op or vemon jobs) */
export const DEFAULT_VE_QOS = 'pbsve';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

// A QOS name ends up in sacctmgr's arguments and slurm.conf: only a plain name passes.
export function checkQosName(value: string): string {
  if (!NAME.test(value)) throw new VeError('invalid-field', 'prereq', `qos: must be a plain name (got ${JSON.stringify(value)})`, { field: 'qos' });
  return value;
}

/** The sacctmgr arguments that make the QOS hold exactly the configured limits; a limit left out of the config is cleared (-1). */
export function buildSlurmQosLimitArgs(qos: string, limits: UserLimits | undefined): string[] {
  const jobs = limits?.vesPerUser ?? -1;
  const cpu = limits?.cpusPerUser ?? -1;
  const mem = limits?.memoryMiBPerUser === undefined ? -1 : `${limits.memoryMiBPerUser}M`;
  // MaxSubmitJobsPerUser counts pending + running VEs, as config vesPerUser and TORQUE's max_user_queuable do
  return ['-i', 'modify', 'qos', checkQosName(qos), 'set', `MaxSubmitJobsPerUser=${jobs}`, `MaxTRESPerUser=cpu=${cpu},mem=${mem}`];
}

export interface SlurmQosStep {
  readonly command: string;
  readonly outcome: 'applied' | 'exists' | 'would-apply' | 'no-slurmdbd' | 'warning';
  readonly detail?: string;
}

export interface SlurmQosOptions {
  readonly qos: string;
  readonly limits: UserLimits | undefined;
  readonly dryRun: boolean;
  readonly slurmConf?: string | undefined;
  readonly binDir?: string | undefined;
  readonly timeoutMs?: number;
  readonly runCommand?: RunCommand;
}

const show = (file: string, args: readonly string[]): string => [file.replace(/^.*\//, ''), ...args].join(' ');

/** what an admin reads when the cluster has no slurmdbd: why, and what to do */
export function describeMissingSlurmdbd(why: string): string {
  return `Slurm accounting (slurmdbd) is not available (${why}): per-user limits are checked by \`ve create\` only, `
    + 'a user submitting with sbatch directly is not held to them. To have Slurm enforce them: run slurmdbd, set '
    + 'AccountingStorageType=accounting_storage/slurmdbd and AccountingStorageEnforce=associations,limits,qos in slurm.conf, '
    + 'give every user an association (sacctmgr add account/user), then run `ve admin install server` again';
}

// Asks slurmctld first (its config says whether accounting is on and enforced), then slurmdbd itself through
// sacctmgr; makes the QOS if missing and sets its limits. Never throws for a cluster without slurmdbd: it says so.
export async function applySlurmQos(options: SlurmQosOptions): Promise<SlurmQosStep[]> {
  const run = options.runCommand ?? defaultRunCommand;
  const bin = (c: string): string => (options.binDir === undefined ? c : join(options.binDir, c));
  const env = options.slurmConf === undefined ? {} : { SLURM_CONF: options.slurmConf };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const qos = checkQosName(options.qos);
  const sacctmgr = bin('sacctmgr');
  const limitArgs = buildSlurmQosLimitArgs(qos, options.limits);
  const addArgs = ['-i', 'add', 'qos', qos];
  if (options.dryRun) {
    return [
      { command: `${show(sacctmgr, addArgs)}   # only when the QOS does not exist yet`, outcome: 'would-apply' },
      { command: show(sacctmgr, limitArgs), outcome: 'would-apply' },
    ];
  }
  const steps: SlurmQosStep[] = [];
  const config = await run(bin('scontrol'), ['show', 'config'], { env, timeoutMs });
  if (config.exitCode === 0) {
    const storage = /^AccountingStorageType\s*=\s*(\S+)/m.exec(config.stdout)?.[1] ?? '(none)';
    if (storage !== 'accounting_storage/slurmdbd') {
      return [{ command: 'scontrol show config', outcome: 'no-slurmdbd', detail: describeMissingSlurmdbd(`AccountingStorageType is ${storage}`) }];
    }
    const enforce = /^AccountingStorageEnforce\s*=\s*(.*)$/m.exec(config.stdout)?.[1]?.trim() ?? '';
    if (!/\blimits\b/.test(enforce) || !/\bqos\b/.test(enforce)) {
      steps.push({ command: 'scontrol show config', outcome: 'warning', detail: `AccountingStorageEnforce is "${enforce}": Slurm stores the QOS limits but enforces them only with limits and qos in it (AccountingStorageEnforce=associations,limits,qos)` });
    }
  }
  const probeArgs = ['-n', '-P', 'show', 'qos', qos, 'format=name'];
  const probe = await run(sacctmgr, probeArgs, { env, timeoutMs });
  if (probe.exitCode !== 0) {
    const said = `${probe.stderr}${probe.stdout}`.trim().split('\n').slice(-2).join(' ');
    return [...steps, { command: show(sacctmgr, probeArgs), outcome: 'no-slurmdbd', detail: describeMissingSlurmdbd(`sacctmgr: ${said || `exit ${probe.exitCode}`}`) }];
  }
  if (probe.stdout.split('\n').some((l) => l.trim() === qos)) {
    steps.push({ command: show(sacctmgr, addArgs), outcome: 'exists' });
  } else {
    steps.push(await runSacctmgr(run, sacctmgr, addArgs, env, timeoutMs));
  }
  steps.push(await runSacctmgr(run, sacctmgr, limitArgs, env, timeoutMs));
  return steps;
}

// sacctmgr exits 1 with " Nothing modified" when the values are already there: that is the idempotent re-run.
async function runSacctmgr(run: RunCommand, sacctmgr: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<SlurmQosStep> {
  const r = await run(sacctmgr, args, { env, timeoutMs });
  const output = `${r.stdout}${r.stderr}`.trim();
  if (r.exitCode === 0) return { command: show(sacctmgr, args), outcome: 'applied' };
  if (/nothing (new added|modified)/i.test(output)) return { command: show(sacctmgr, args), outcome: 'exists' };
  throw new VeError('sacctmgr-failed', 'exec', `${show(sacctmgr, args)} failed (exit ${r.exitCode}): ${output}`, { details: { args } });
}

/** one line per step, as `ve admin install server` prints them */
export function formatSlurmQosSteps(steps: readonly SlurmQosStep[]): string[] {
  return steps.map((s) => (s.outcome === 'would-apply' ? s.command
    : s.outcome === 'no-slurmdbd' || s.outcome === 'warning' ? `${s.outcome === 'warning' ? 'WARNING' : 'NOTE'}: ${s.detail ?? ''}`
      : `${s.outcome.padEnd(8)} ${s.command}`));
}
