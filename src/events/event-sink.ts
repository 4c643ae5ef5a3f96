import { join } from 'node:path';
import { encodeVeEvent } from './encode-ve-event.js';
import { decodeEventPayload } from './decode-event-payload.js';
import { encodeHostReport, type HostReport } from './host-report.js';
import { buildMonitorScript } from './build-monitor-script.js';
import { buildVemonOutputPath, ensureVemonOutputDir } from './vemon-output-path.js';
import { signEventLine } from './sign-event-line.js';
import { withLockFile } from '../core/with-lock-file.js';
import { VeError } from '../core/ve-error.js';
import { decideVemonJobOutcome } from './decide-vemon-job-outcome.js';
import type { EventJournal } from './event-journal.js';
import type { HostKeyring } from './host-key.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { VeEvent } from '../core/ve-event.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

/** Where hooks put events: they are journalled first, then carried to the vemon queue. */
export interface EventSink {
  /** never throws for a batch system that is down: the events stay journalled */
  emit(events: readonly VeEvent[]): Promise<{ sent: number; pending: number }>;
  /** resend whatever is still pending (the periodic hook calls this) */
  flush(): Promise<{ sent: number; pending: number }>;
  /** journal only, no sending: a caller with several events flushes once, so they share one vemon job */
  record(events: readonly VeEvent[]): Promise<{ sent: number; pending: number }>;
  /** journal a host report (orphan domains), sent with the next flush like an event */
  recordHostReport(report: HostReport): void;
  /** asks the batch system how the vemon jobs already sent ended: delivered ones are done, the
   *  events of failed or forgotten ones are pending again (the periodic hook calls this before flush) */
  confirmSent(): Promise<ConfirmReport>;
}

export interface ConfirmReport {
  readonly delivered: number;
  /** vemon jobs whose events are pending again */
  readonly undelivered: number;
  readonly waiting: number;
}

/** vemon jobs missing from the listing looked up one by one per confirmSent call; the rest wait for the next call */
export const MAX_CONFIRM_LOOKUPS = 20;

/** the shell vemon jobs run with: TORQUE would use the submitting account's login shell */
export const VEMON_JOB_SHELL = '/bin/sh';

export const EVENTS_PER_JOB = 200;

/** turns a journalled payload into a signed line; throws a VeError when this host cannot sign it */
export type EventSigner = (payload: string) => string;

export interface EventSinkDeps {
  readonly batch: Batch;
  readonly journal: EventJournal;
  readonly config: PbsVeConfig;
  readonly configDir: string;
  readonly log: (line: string) => void;
  readonly sign: EventSigner;
  /** where a vemon job's output goes (chooseVemonOutputPath: the batch system decides where output lands) */
  readonly vemonOutputPath: () => string;
  /** how long a flush waits for another hook's send lock; default 30 s */
  readonly lockWaitMs?: number;
}

// Each event (or host report) is signed with the key of the host it claims: a host holds only its own key, so it
// can sign nothing else (a sandbox sharing one state dir and key dir signs each host's own events).
export function createEventSigner(keyring: HostKeyring): EventSigner {
  return (payload) => {
    const host = decodeEventPayload(payload).host;
    const key = keyring(host);
    if (key === undefined) throw new VeError('host-key-missing', 'environment', `no key to sign events of host ${host}`);
    return signEventLine(payload, host, key);
  };
}

// Signing happens at send time: the journal keeps plain payloads, so a key installed late (or
// replaced) still gets every journalled event out.
function signPending(pending: readonly { id: string; event: string }[], sign: EventSigner, log: (line: string) => void): { id: string; line: string }[] {
  const signed: { id: string; line: string }[] = [];
  let unsigned = 0;
  let firstProblem = '';
  for (const p of pending) {
    try {
      signed.push({ id: p.id, line: sign(p.event) });
    } catch (err) {
      unsigned++;
      firstProblem ||= (err as Error).message;
    }
  }
  if (unsigned > 0) log(`pbs-ve: ${unsigned} event(s) kept in the journal, cannot sign them: ${firstProblem}`);
  return signed;
}

// A host sharing the vemon node's state directory (the sandbox) makes the directory here, a vemon node at
// keygen and on every apply; a directory that cannot be made safe gets no output file rather than a link followed.
/**
 * TORQUE vemon jobs discard their output on purpose. TORQUE's default put it in the submit directory of
 * the compute host (/tmp/pbsve-events.o<N>, a name any user can create first), copied there by the
 * vemon node's MOM as the event account; no directory on a compute host is the event account's alone,
 * and TORQUE expands no job id in -o. /dev/null is special to the MOM: written in place, never copied
 * (resmom/requests.c). Nothing is lost: whether the events arrived is the job's exit status (the host
 * reads it), and ve-monitor keeps what it refused in its own log on the vemon node.
 */
// Slurm writes a job's output on the node that runs it (root-only monitor directory there, %j expanded);
// TORQUE copies it back to the submitting host, where nobody reads it: discarded.
export function chooseVemonOutputPath(config: PbsVeConfig, log: (line: string) => void): string {
  return config.batch.kind === 'slurm' ? findVemonOutputPath(config.stateDir, log) : '/dev/null';
}

function findVemonOutputPath(stateDir: string, log: (line: string) => void): string {
  try {
    ensureVemonOutputDir(stateDir);
    return buildVemonOutputPath(stateDir);
  } catch (err) {
    log(`pbs-ve: vemon job output discarded: ${(err as Error).message}`);
    return '/dev/null';
  }
}

// Under the send lock, so a flush never hands over events whose previous job is being judged.
async function confirmSent(deps: EventSinkDeps): Promise<ConfirmReport> {
  const { batch, journal, config } = deps;
  return withLockFile(join(config.stateDir, 'journal', 'send.lock'), deps.lockWaitMs ?? 30_000, async () => {
    let delivered = 0, undelivered = 0, waiting = 0;
    const jobs = journal.unconfirmed();
    if (jobs.length === 0) return { delivered, undelivered, waiting };
    // one listing for all of them; a job it leaves out is asked about alone (forgotten, or not visible to us)
    let listed: Map<string, BatchJob>;
    try {
      listed = new Map((await batch.listJobs({ queue: config.batch.vemonQueue })).map((j) => [j.jobId, j]));
    } catch (err) {
      deps.log(`pbs-ve: cannot tell whether ${jobs.length} vemon job(s) delivered their events (kept as sent for now): ${(err as Error).message}`);
      return { delivered, undelivered, waiting: jobs.length };
    }
    let lookups = 0;
    for (const [i, sent] of jobs.entries()) {
      let job = listed.get(sent.jobId);
      if (job === undefined) {
        if (lookups >= MAX_CONFIRM_LOOKUPS) {
          waiting++;
          continue;
        }
        lookups++;
        try {
          job = await batch.getJob(sent.jobId);
        } catch (err) {
          deps.log(`pbs-ve: cannot tell whether vemon job ${sent.jobId} delivered its events (kept as sent for now): ${(err as Error).message}`);
          waiting += jobs.length - i;
          break;
        }
      }
      const outcome = decideVemonJobOutcome(job);
      if (outcome.outcome === 'delivered') {
        journal.confirm(sent.jobId);
        delivered++;
      } else if (outcome.outcome === 'undelivered') {
        journal.retract(sent.jobId);
        deps.log(`pbs-ve: vemon job ${sent.jobId} did not deliver its ${sent.events} event(s): ${outcome.why}; they are sent again`);
        undelivered++;
      } else {
        waiting++;
      }
    }
    return { delivered, undelivered, waiting };
  });
}

// One vemon job carries up to EVENTS_PER_JOB events, so a boot storm does not flood the queue.
export function createEventSink(deps: EventSinkDeps): EventSink {
  const { batch, journal, config } = deps;
  const flush = async (): Promise<{ sent: number; pending: number }> =>
    withLockFile(join(config.stateDir, 'journal', 'send.lock'), deps.lockWaitMs ?? 30_000, async () => {
      const pending = journal.pending();
      const outputPath = deps.vemonOutputPath();
      const signed = signPending(pending, deps.sign, deps.log);
      let sent = 0;
      for (let i = 0; i < signed.length; i += EVENTS_PER_JOB) {
        const chunk = signed.slice(i, i + EVENTS_PER_JOB);
        try {
          const jobId = await batch.submit({
            name: 'pbsve-events',
            queue: config.batch.vemonQueue,
            cpus: 1,
            memoryMiB: 256,
            walltimeSeconds: 600,
            // named, not left to a queue default: TORQUE applies neednodes only to jobs without nodes=
            features: [config.batch.vemonFeature],
            nodeCount: 1,
            shell: VEMON_JOB_SHELL,
            variables: {},
            // the script names node, ve-monitor and the config dir itself: no login environment to wait for
            loginEnvironment: false,
            script: buildMonitorScript({ nodePath: config.nodePath, installDir: config.installDir, configDir: config.monitorConfigDir ?? deps.configDir, encodedEvents: chunk.map((c) => c.line) }),
            // Slurm: the root-only monitor directory (%j expanded). Never the log directory: slurmd
            // writes it as root, following any link a user planted there
            outputPath,
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
      // journalled means recorded: a caller that saw emit throw would record the change again
      try {
        return await flush();
      } catch (err) {
        deps.log(`pbs-ve: events kept in the journal, sending deferred: ${(err as Error).message}`);
        return { sent: 0, pending: journal.pending().length };
      }
    },
    flush,
    record(events) {
      journal.append(events.map(encodeVeEvent));
      return Promise.resolve({ sent: 0, pending: events.length });
    },
    recordHostReport(report) {
      journal.append([encodeHostReport(report)]);
    },
    confirmSent: () => confirmSent(deps),
  };
}
