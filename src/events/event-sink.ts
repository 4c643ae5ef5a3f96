import { join } from 'node:path';
import { encodeVeEvent } from './encode-ve-event.js';
import { buildMonitorScript } from './build-monitor-script.js';
import { withLockFile } from '../core/with-lock-file.js';
import type { EventJournal } from './event-journal.js';
import type { Batch } from '../batch/batch.js';
import type { VeEvent } from '../core/ve-event.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

/** Where hooks put events: they are journalled first, then carried to the vemon queue. */
export interface EventSink {
  /** never throws for a batch system that is down: the events stay journalled */
  emit(events: readonly VeEvent[]): Promise<{ sent: number; pending: number }>;
  /** resend whatever is still pending (the periodic hook calls this) */
  flush(): Promise<{ sent: number; pending: number }>;
}

export const EVENTS_PER_JOB = 200;

export interface EventSinkDeps {
  readonly batch: Batch;
  readonly journal: EventJournal;
  readonly config: PbsVeConfig;
  readonly configDir: string;
  readonly log: (line: string) => void;
}

// One vemon job carries up to EVENTS_PER_JOB events, so a boot storm does not flood the queue.
export function createEventSink(deps: EventSinkDeps): EventSink {
  const { batch, journal, config } = deps;
  const flush = async (): Promise<{ sent: number; pending: number }> =>
    withLockFile(join(config.stateDir, 'journal', 'send.lock'), 30_000, async () => {
      const pending = journal.pending();
      let sent = 0;
      for (let i = 0; i < pending.length; i += EVENTS_PER_JOB) {
        const chunk = pending.slice(i, i + EVENTS_PER_JOB);
        try {
          const jobId = await batch.submit({
            name: 'pbsve-events',
            queue: config.batch.vemonQueue,
            cpus: 1,
            memoryMiB: 256,
            walltimeSeconds: 600,
            features: [],
            nodeCount: 1,
            variables: {},
            script: buildMonitorScript({ nodePath: config.nodePath, installDir: config.installDir, configDir: deps.configDir, encodedEvents: chunk.map((c) => c.event) }),
            outputPath: join(config.stateDir, 'log', 'vemon-%j.out'),
            workdir: '/tmp',
          });
          journal.markSent(chunk.map((c) => c.id), jobId);
          sent += chunk.length;
        } catch (err) {
          deps.log(`pbs-ve: events kept in the journal, vemon job not accepted: ${(err as Error).message}`);
          break;
        }
      }
      return { sent, pending: pending.length - sent };
    });
  return {
    async emit(events) {
      journal.append(events.map(encodeVeEvent));
      return flush();
    },
    flush,
  };
}
