// `ve-monitor clusters` as root's cron on the vemon node runs it: root on both backends, since it submits
// gone members as their owners (runVeMonitor's event account could not).
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import type { ClusterFinding } from '../../src/ve-monitor/ensure-clusters-running.js';

const MONITOR = join(PROJECT_DIR, 'dist/src/ve-monitor/main.js');

// Exit 1 is "findings, some failed": the findings are still the answer the tests look at.
export async function runClusterPass(info: SandboxInfo): Promise<ClusterFinding[]> {
  const r = await runCommand(process.execPath, [MONITOR, 'clusters', '--json'], { env: info.vemonEnv, timeoutMs: 180_000 });
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`ve-monitor clusters: exit ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ClusterFinding[];
}
