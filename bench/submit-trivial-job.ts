// The floor of the lifecycle rows: the batch system alone, a trivial job of the VE queue that writes the
// time it started and sleeps; submitted as the user, through the same sbatch/qsub a VE job goes through.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchControl } from '../test/harness/batch-control.js';

export interface TrivialJob {
  readonly jobId: string;
  readonly markerFile: string;
}

export async function submitTrivialJob(control: BatchControl, user: string, workDir: string, name: string): Promise<TrivialJob> {
  const markerFile = join(workDir, `${name}.started`);
  const script = `#!/bin/sh\ndate +%s%N >${markerFile}.tmp && mv ${markerFile}.tmp ${markerFile}\nsleep 3600\n`;
  const jobId = await control.submitRaw({ user, name, script, cpus: 1, memoryMiB: 32, minutes: 60, feature: 'lxc', output: join(workDir, `${name}.out`) });
  return { jobId, markerFile };
}

/** epoch ms the job's script started, once it has */
export function readTrivialJobStart(job: TrivialJob): number | undefined {
  if (!existsSync(job.markerFile)) return undefined;
  const ns = readFileSync(job.markerFile, 'utf8').trim();
  return /^[0-9]+$/.test(ns) ? Number(BigInt(ns) / 1_000_000n) : undefined;
}
