import { VeError } from './ve-error.js';

export type ExitContext = 'cli' | 'torque-prologue' | 'torque-epilogue' | 'slurm-prolog' | 'slurm-epilog' | 'health-check' | 'job-body' | 'monitor';

/**
 * The one place exit codes are decided.
 * TORQUE prologue: 0 runs the job; 1 aborts it for good (no retry); any other non-zero requeues it,
 * and TORQUE retries on the same host in a loop, so environment faults are bounded by the caller
 * (attempt counting) before they get here as kind 'environment'.
 * Slurm Prolog: any non-zero drains the node and requeues+holds the job; a bad spec must therefore
 * not fail the Prolog (the job is cancelled instead) — so prereq errors exit 0 after cancelling.
 * CLI: 2 for bad input (nothing submitted), 3 for environment faults, 1 for anything else.
 */
export function decideExitCode(error: unknown, context: ExitContext): number {
  const kind = error instanceof VeError ? error.kind : 'exec';
  switch (context) {
    case 'cli':
      return kind === 'prereq' ? 2 : kind === 'environment' ? 3 : 1;
    case 'torque-prologue':
      return kind === 'environment' ? 2 : 1;
    case 'slurm-prolog':
      return kind === 'prereq' ? 0 : 1;
    case 'torque-epilogue':
    case 'slurm-epilog':
      // epilogue codes do not change the job on TORQUE; on Slurm non-zero drains the node: only for host faults
      return context === 'slurm-epilog' && kind === 'environment' ? 1 : 0;
    case 'health-check':
      return 1;
    case 'job-body':
    case 'monitor':
      return kind === 'prereq' ? 2 : 1;
  }
}

/**
 * Whether the batch system starts the job again after the prologue fails with this error: a TORQUE
 * prologue exit other than 0 and 1 requeues it; a failing Slurm Prolog requeues it (and drains the node).
 * The prologue tells the owner "failed" only when it is not.
 */
export function isPrologueRetried(error: unknown, context: 'torque-prologue' | 'slurm-prolog'): boolean {
  const code = decideExitCode(error, context);
  return context === 'torque-prologue' ? code !== 0 && code !== 1 : code !== 0;
}
