// Slurm ignores HealthCheckProgram's exit code: the hook drains (and later resumes) its own node itself.
import { join } from 'node:path';
import { sanitizeSlurmReason } from '../batch/slurm-batch.js';
import { VeError, invalidField } from '../core/ve-error.js';
import type { RunCommand } from '../core/run-command.js';

/** Reasons set by the health hook start with this; only such drains are lifted by it. */
export const HEALTH_REASON_PREFIX = 'pbs-ve health:';

const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface SlurmNodeControl {
  readonly run: RunCommand;
  readonly binDir: string | undefined;
  readonly slurmConf: string | undefined;
  readonly timeoutMs: number;
}

function scontrol(control: SlurmNodeControl, args: readonly string[]): ReturnType<RunCommand> {
  const file = control.binDir === undefined ? 'scontrol' : join(control.binDir, 'scontrol');
  return control.run(file, args, { timeoutMs: control.timeoutMs, ...(control.slurmConf === undefined ? {} : { env: { SLURM_CONF: control.slurmConf } }) });
}

// The reason carries the problem so `sinfo -R` tells the admin what to fix.
export async function drainSlurmNode(node: string, problem: string, control: SlurmNodeControl): Promise<void> {
  if (!NODE.test(node)) throw invalidField('node', 'must be one node name', node);
  const reason = sanitizeSlurmReason(`${HEALTH_REASON_PREFIX} ${problem}`);
  const r = await scontrol(control, ['update', `NodeName=${node}`, 'State=DRAIN', `Reason=${reason}`]);
  if (r.exitCode !== 0) throw new VeError('slurm-drain-failed', 'environment', `scontrol update NodeName=${node} State=DRAIN: ${r.stderr.trim()}`);
}

// Like TORQUE, a node the hook took out comes back by itself once healthy; an admin's drain is left alone.
export async function resumeSlurmNodeIfOurs(node: string, control: SlurmNodeControl): Promise<boolean> {
  if (!NODE.test(node)) throw invalidField('node', 'must be one node name', node);
  const shown = await scontrol(control, ['show', 'node', '-o', node]);
  if (shown.exitCode !== 0) throw new VeError('slurm-node-unreadable', 'environment', `scontrol show node ${node}: ${shown.stderr.trim()}`);
  const drained = /\bState=\S*DRAIN/.test(shown.stdout);
  if (!drained || !shown.stdout.includes(`Reason=${HEALTH_REASON_PREFIX}`)) return false;
  const r = await scontrol(control, ['update', `NodeName=${node}`, 'State=RESUME']);
  if (r.exitCode !== 0) throw new VeError('slurm-resume-failed', 'environment', `scontrol update NodeName=${node} State=RESUME: ${r.stderr.trim()}`);
  return true;
}
