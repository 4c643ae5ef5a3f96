// Slurm ignores HealthCheckProgram's exit code: the hook takes its own node out (and later back) itself,
// through the Batch port like every other node change.
import type { Batch } from '../batch/batch.js';

/** Notes set by the health hook start with this; only such drains are lifted by it. */
export const HEALTH_REASON_PREFIX = 'pbs-ve health:';

export type NodeHealthAction = 'drained' | 'resumed' | 'unchanged';

/**
 * Unhealthy: the node is drained with the problems as its note, so `sinfo -R` tells the admin what to fix.
 * Healthy: like TORQUE, a node the hook took out comes back by itself; an admin's drain is left alone.
 */
export async function applyNodeHealth(batch: Batch, host: string, problems: readonly string[]): Promise<NodeHealthAction> {
  if (problems.length > 0) {
    await batch.setNodeOffline(host, `${HEALTH_REASON_PREFIX} ${problems.join('; ')}`);
    return 'drained';
  }
  const node = (await batch.listNodes()).find((n) => n.name === host);
  const unavailable = node !== undefined && node.state !== 'free' && node.state !== 'busy';
  if (!unavailable || !(node.note ?? '').startsWith(HEALTH_REASON_PREFIX)) return 'unchanged';
  await batch.setNodeOnline(host);
  return 'resumed';
}
