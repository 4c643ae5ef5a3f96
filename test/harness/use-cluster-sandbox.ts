// The virtual-cluster tests' sandbox: one owner, room for a few members, the owner's jobs cancelled before the
// sandbox stops (a failed test must not leave members holding hosts), and the figures printed at the end.
import type { Test } from 'tap';
import { runVeAs } from '../../src/sandbox/run-demo.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import type { ClusterStatus } from '../../src/clusters/show-cluster-status.js';
import { openBatchControl, type BatchControl } from './batch-control.js';
import { useSandbox, type UseSandboxOptions } from './use-sandbox.js';

export interface ClusterSandbox {
  /** figure lines the test collects; printed once, before the sandbox stops */
  readonly figures: string[];
  /** `ve ARGS` as the owner */
  readonly ve: (args: readonly string[], timeoutMs?: number) => Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** `ve cluster status NAME --json` as the owner; a failure is the test's error */
  readonly status: (name: string) => Promise<ClusterStatus>;
}

// The sandbox and the batch control reach the test through `ready`, as with useSandbox.
export function useClusterSandbox(t: Test, options: Omit<UseSandboxOptions, 'users' | 'ready' | 'beforeStop'> & {
  readonly user: string;
  readonly ready: (info: SandboxInfo, control: BatchControl) => void;
}): ClusterSandbox {
  const { user, ready, ...sandboxOptions } = options;
  let info: SandboxInfo | undefined;
  let control: BatchControl | undefined;
  const figures: string[] = [];
  useSandbox(t, {
    nodeCpus: 4, nodeMemoryMiB: 2000, ...sandboxOptions, users: [user],
    ready: (started) => {
      info = started;
      control = openBatchControl(started);
      ready(started, control);
    },
    beforeStop: async () => {
      if (control !== undefined) for (const j of await control.listJobs()) if (j.owner === user && j.state !== 'completed') await control.batch.cancel(j.jobId);
      if (figures.length > 0) t.comment(`figures:\n${figures.join('\n')}`);
    },
  });
  const ve = (args: readonly string[], timeoutMs = 300_000): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
    if (info === undefined) throw new Error('the cluster sandbox is not up');
    return runVeAs(info, user, args, timeoutMs);
  };
  return {
    figures,
    ve,
    status: async (name: string): Promise<ClusterStatus> => {
      const r = await ve(['cluster', 'status', name, '--json']);
      if (r.exitCode !== 0) throw new Error(`ve cluster status ${name}: exit ${r.exitCode}: ${r.stderr}`);
      return JSON.parse(r.stdout) as ClusterStatus;
    },
  };
}
