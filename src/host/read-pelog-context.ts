import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { readSlurmPelogContext } from '../batch/read-slurm-pelog-context.js';
import { readTorquePelogContext, type TorquePelogKind } from '../batch/read-torque-pelog-context.js';
import { VeError } from '../core/ve-error.js';
import type { Batch, PelogContext } from '../batch/batch.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

const TORQUE_KINDS: readonly TorquePelogKind[] = ['prologue', 'epilogue', 'prologue.parallel', 'epilogue.parallel', 'epilogue.precancel'];

/** TORQUE passes everything in argv (the installed wrapper adds "--torque <kind>"); Slurm in the environment. */
export function readPelogContext(config: PbsVeConfig, argv: readonly string[], env: NodeJS.ProcessEnv, slurmKind: 'prolog' | 'epilog'): PelogContext {
  if (config.batch.kind === 'slurm') return readSlurmPelogContext(env, slurmKind);
  const kind = argv[0] === '--torque' ? argv[1] : undefined;
  if (kind === undefined || !(TORQUE_KINDS as readonly string[]).includes(kind)) {
    throw new VeError('torque-pelog-argv', 'prereq', `argv: expected "--torque <${TORQUE_KINDS.join('|')}>" before TORQUE's arguments (is the mom_priv wrapper installed by ve admin?)`);
  }
  return readTorquePelogContext(argv.slice(2), env, kind as TorquePelogKind, hostname().split('.')[0] ?? hostname(), config.batch.slotsPerCpu);
}

// The job script is where the trusted spec line is: TORQUE hands its path to the pelog, Slurm keeps it.
export async function readPelogJobScript(ctx: PelogContext, batch: Batch): Promise<string | undefined> {
  if (ctx.scriptPath !== undefined) {
    try {
      return await readFile(ctx.scriptPath, 'utf8');
    } catch (err) {
      // TORQUE writes no script file for an interactive job (ve ssh's relay, qsub -I -x): no script, so no VE
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await batch.getJob(ctx.jobId))?.interactive === true) return undefined;
      throw new VeError('job-script-unreadable', 'environment', `cannot read job script ${ctx.scriptPath}`, { cause: err });
    }
  }
  return batch.readJobScript(ctx.jobId);
}
