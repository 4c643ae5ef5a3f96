import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { withLockFile } from '../core/with-lock-file.js';
import type { Alert, AlertOutcome } from './send-alert.js';
import type { VeEvent } from '../core/ve-event.js';

/** The administrators' alert for a VE that ended failed: who, where, and why in the host's words. */
export function buildVeFailedAlert(event: VeEvent): Alert {
  return {
    kind: 've-failed',
    key: event.jobId,
    text: `pbs-ve: VE ${event.name} (job ${event.jobId}, owner ${event.owner}, ${event.type}) failed on ${event.host} at ${event.at}: ${event.reason} (reported by ${event.source})`,
  };
}

/**
 * One alert per failed VE (kind ve-failed, key its job id): the sender's de-duplication makes a re-sent
 * event, or a second failed event of the same VE, no second mail. Several vemon jobs may apply at once,
 * so the sender's state is read and written under lockFile.
 */
export async function alertFailedVes(failed: readonly VeEvent[], send: (alert: Alert) => Promise<AlertOutcome>, lockFile: string): Promise<AlertOutcome[]> {
  if (failed.length === 0) return [];
  mkdirSync(dirname(lockFile), { recursive: true, mode: 0o700 });
  return withLockFile(lockFile, 60_000, async () => {
    const outcomes: AlertOutcome[] = [];
    for (const e of failed) outcomes.push(await send(buildVeFailedAlert(e)));
    return outcomes;
  });
}
