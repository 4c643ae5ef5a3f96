// `ve create` -> LDAP running and `ve destroy` -> LDAP destroyed on a sandbox, one VE at a time, against a
// trivial job of the same queue: submit -> its script runs, cancel -> the batch system forgets it.
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config.js';
import { openInventory } from '../src/config/open-adapters.js';
import { runVeAs } from '../src/sandbox/run-demo.js';
import { SANDBOX_USER, type SandboxInfo } from '../src/sandbox/sandbox.js';
import { openBatchControl } from '../test/harness/batch-control.js';
import { findPercentile, type BenchRow } from './bench-row.js';
import { waitForVeState } from './watch-ve-states.js';
import { readTrivialJobStart, submitTrivialJob } from './submit-trivial-job.js';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LifecycleTimes {
  readonly createMs: number[];
  readonly destroyMs: number[];
  readonly floorStartMs: number[];
  readonly floorCancelMs: number[];
}

// One VE through its life as a user does it; the clock runs from the command's start to LDAP's word.
async function timeOneVe(info: SandboxInfo, inventory: ReturnType<typeof openInventory>, name: string): Promise<{ create: number; destroy: number }> {
  const t0 = nowMs();
  const created = await runVeAs(info, SANDBOX_USER, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '32M', '--lease', '1h', '--no-wait', '--json']);
  if (created.exitCode !== 0) throw new Error(`ve create ${name}: ${created.stderr.trim()}`);
  const jobId = (JSON.parse(created.stdout) as { jobId: string }).jobId;
  const create = await waitForVeState(inventory, jobId, ['running'], t0, 120_000);
  const t1 = nowMs();
  const destroyed = await runVeAs(info, SANDBOX_USER, ['destroy', name, '--no-wait', '--json']);
  if (destroyed.exitCode !== 0) throw new Error(`ve destroy ${name}: ${destroyed.stderr.trim()}`);
  const destroy = await waitForVeState(inventory, jobId, ['destroyed'], t1, 120_000);
  return { create, destroy };
}

// The floor: the same user submits a trivial job of the VE queue; cancel as root, until the job is gone.
async function timeTrivialJob(info: SandboxInfo, control: ReturnType<typeof openBatchControl>, name: string): Promise<{ start: number; cancel: number }> {
  const t0 = Date.now();
  const job = await submitTrivialJob(control, SANDBOX_USER, join(info.dir, 'work'), name);
  let started: number | undefined;
  while ((started = readTrivialJobStart(job)) === undefined) {
    if (Date.now() - t0 > 120_000) throw new Error(`trivial job ${job.jobId} did not start within 120 s`);
    await sleep(20);
  }
  const t1 = nowMs();
  await control.batch.cancel(job.jobId);
  while (!(await control.isJobDone(job.jobId))) {
    if (nowMs() - t1 > 120_000) throw new Error(`trivial job ${job.jobId} still known 120 s after cancel`);
    await sleep(50);
  }
  return { start: started - t0, cancel: nowMs() - t1 };
}

/** `rounds` VEs and trivial jobs alternately, after one warm-up of each (the first VE creates the host's network). */
export async function measureVeLifecycle(info: SandboxInfo, rounds: number, log: (line: string) => void): Promise<LifecycleTimes> {
  const inventory = openInventory(loadConfig(info.configDir), 'read');
  const control = openBatchControl(info);
  const times: LifecycleTimes = { createMs: [], destroyMs: [], floorStartMs: [], floorCancelMs: [] };
  try {
    await timeOneVe(info, inventory, 'warmup');
    await timeTrivialJob(info, control, 'warmup-raw');
    for (let i = 0; i < rounds; i++) {
      const ve = await timeOneVe(info, inventory, `bench${i}`);
      const raw = await timeTrivialJob(info, control, `raw${i}`);
      log(`${info.batch} round ${i}: create ${ve.create.toFixed(0)} ms, destroy ${ve.destroy.toFixed(0)} ms; trivial job start ${raw.start.toFixed(0)} ms, cancel ${raw.cancel.toFixed(0)} ms`);
      times.createMs.push(ve.create);
      times.destroyMs.push(ve.destroy);
      times.floorStartMs.push(raw.start);
      times.floorCancelMs.push(raw.cancel);
    }
    return times;
  } finally {
    await inventory.close();
  }
}

/** the three rows of issue 12: create p50 and p95, destroy p50, each beside the trivial job's figure */
export function buildLifecycleRows(batch: string, t: LifecycleTimes, note: string): BenchRow[] {
  const tool = batch === 'torque' ? 'qsub trivial job' : 'sbatch trivial job';
  return [
    { name: `ve create -> running p50 (${batch})`, ours: findPercentile(t.createMs, 50), floor: findPercentile(t.floorStartMs, 50), unit: 'ms', floorTool: `${tool}, submit -> script runs`, goal: { kind: 'at-most', value: 2000 }, note: `${t.createMs.length} VEs one at a time; ${note}` },
    { name: `ve create -> running p95 (${batch})`, ours: findPercentile(t.createMs, 95), floor: findPercentile(t.floorStartMs, 95), unit: 'ms', floorTool: `${tool}, submit -> script runs`, goal: { kind: 'at-most', value: 4000 }, note },
    { name: `ve destroy -> destroyed p50 (${batch})`, ours: findPercentile(t.destroyMs, 50), floor: findPercentile(t.floorCancelMs, 50), unit: 'ms', floorTool: `${batch === 'torque' ? 'qdel' : 'scancel'} trivial job -> gone`, goal: { kind: 'at-most', value: 1500 }, note },
  ];
}
