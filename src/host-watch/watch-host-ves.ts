// ve-host-watch: one process per VE host (root) that decides, for every VE of the host, when its job ends,
// and copies every LXC console into its log. It costs the host one process however many VEs run: it waits
// on libvirt's lifecycle events and looks at a VE only when one names its domain (docs/design.md).
import { watch, fstatSync, openSync, closeSync, constants, type FSWatcher } from 'node:fs';
import { classifyDomainStop } from '../core/classify-domain-stop.js';
import { decideVeFate, type VeFate } from '../core/decide-ve-fate.js';
import { findEndedPart } from '../core/find-ended-part.js';
import { parseDomainPart } from '../core/build-domain-name.js';
import {
  answerJobBody, findJobDir, findVeJobFile, hasJobBodyChannel, listVeJobDirNames, readJobBodyAnswer, readVeJobRecord, readVeRefusal, withVeJobLock, type VeJobRecord,
} from '../host/ve-job-record.js';
import { readVeRecoveryRecord } from '../host/ve-recovery-record.js';
import { findConsolePty } from '../host/ve-console.js';
import type { Clock } from '../core/clock.js';
import type { Virt } from '../virt/virt.js';
import type { VePartRecord } from '../inventory/inventory.js';
import type { UserIds } from '../host/find-user-ids.js';

/** one LXC console being copied into its log; stop() ends the copy */
export interface ConsoleCopy {
  readonly ended: Promise<void>;
  stop(): void;
}

export interface WatchHostVesDeps {
  readonly host: string;
  readonly stateDir: string;
  /** the host's read-only libvirt URIs (LXC and QEMU) */
  readonly uris: readonly string[];
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** how long a crashed domain may stay down, with no word from the host's recovery, before its job ends */
  readonly recoveryWaitMs: number;
  /** multi-node VEs: the parts as the inventory knows them (read-only LDAP) */
  readonly readParts: (jobId: string) => Promise<readonly VePartRecord[]>;
  /** how often the parts of this host's multi-node VEs are read (only while there are any) */
  readonly partsEveryMs: number;
  /** copies an LXC console pty into its log (src/host/capture-console.ts) */
  readonly copyConsole: (ptyPath: string, logPath: string, owner: UserIds) => ConsoleCopy;
  /** first pause before a lost libvirt connection is tried again (doubles up to 30 s) */
  readonly reconnectMs: number;
}

/** what the watcher knows of one job directory between two looks */
interface Watched {
  downSince?: number;
  timer?: NodeJS.Timeout;
  dirWatch?: FSWatcher;
  console?: { readonly pty: string; readonly copy: ConsoleCopy };
  endedPart?: VePartRecord;
  multiNode?: boolean;
}

const MAX_RECONNECT_MS = 30_000;

export interface HostWatch {
  /** one look at every job directory of the host, as after a start; resolves when done */
  rescan(): Promise<void>;
  /** resolves when every look under way is done (tests) */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts watching; resolves once the first look at every job directory is done. Every look at a VE is one
 * serialized step per job directory: read the record and libvirt, decide (src/core/decide-ve-fate.ts), and
 * if the job ends, decide again under the VE's lock (a rollback or an operation in between is seen) before
 * the answer goes to the job body.
 */
export async function watchHostVes(deps: WatchHostVesDeps): Promise<HostWatch> {
  const abort = new AbortController();
  const watched = new Map<string, Watched>();
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const virts = new Map<string, Virt>();
  let partsTimer: NodeJS.Timeout | undefined;
  let partsFailures = 0;

  const entry = (name: string): Watched => {
    let w = watched.get(name);
    if (w === undefined) {
      w = {};
      watched.set(name, w);
    }
    return w;
  };

  // The job is over for the watcher: no timer, no directory watch; the console copy ends by itself.
  const quiet = (w: Watched): void => {
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.dirWatch?.close();
    delete w.timer;
    delete w.dirWatch;
    delete w.downSince;
  };

  const openVirt = async (uri: string): Promise<Virt> => {
    let virt = virts.get(uri);
    if (virt === undefined) {
      virt = await deps.openVirt(uri);
      virts.set(uri, virt);
    }
    return virt;
  };

  const dropVirt = async (uri: string): Promise<void> => {
    const virt = virts.get(uri);
    virts.delete(uri);
    await virt?.close().catch(() => undefined);
  };

  // LXC consoles stall when nobody reads them: one copy per container, following its pty across restarts.
  const followConsole = async (name: string, record: VeJobRecord, virt: Virt, w: Watched): Promise<void> => {
    const pty = await findConsolePty(await virt.getDomainXml(record.domain));
    if (pty === undefined || w.console?.pty === pty) return;
    w.console?.copy.stop();
    const logPath = findVeJobFile(findJobDir(deps.stateDir, name), 'console');
    let owner: UserIds;
    try {
      // the prologue made the log the owner's; its rotation keeps that owner
      const fd = openSync(logPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const st = fstatSync(fd);
        owner = { uid: st.uid, gid: st.gid };
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      deps.log(`job ${record.jobId}: no console log to copy into (${(err as Error).message})`);
      return;
    }
    const copy = deps.copyConsole(pty, logPath, owner);
    const current = { pty, copy };
    w.console = current;
    void copy.ended.then(() => {
      if (w.console !== current) return;
      delete w.console;
      // the container stopped, or restarted on a new pty: look again once libvirt has settled
      if (!abort.signal.aborted) setTimeout(() => { schedule(name); }, 500).unref();
    });
  };

  // Reads what the decision needs, fresh each time: the record, the refusal, libvirt's state, the recovery record.
  const readFate = async (name: string, record: VeJobRecord, virt: Virt, w: Watched): Promise<VeFate> => {
    const both = await virt.getStateReason(record.domain);
    const stop = classifyDomainStop(both?.state, both?.reason);
    return decideVeFate({
      jobId: record.jobId, refusal: readVeRefusal(deps.stateDir, name), record, stop, domainState: both?.state, recovery: readVeRecoveryRecord(deps.stateDir, name),
      endedPart: w.endedPart, downSince: w.downSince, now: deps.clock.now().getTime(), recoveryWaitMs: deps.recoveryWaitMs,
    });
  };

  const readRecord = (name: string): VeJobRecord | undefined => {
    try {
      return readVeJobRecord(deps.stateDir, name);
    } catch {
      // torn while root rewrites it: the next event or look reads it whole
      return undefined;
    }
  };

  const look = async (name: string): Promise<void> => {
    const record = readRecord(name);
    const w = watched.get(name);
    if (record?.host !== deps.host) {
      if (w !== undefined) {
        quiet(w);
        if (w.console === undefined) watched.delete(name);
      }
      return;
    }
    const me = entry(name);
    const uri = record.roUri;
    let virt: Virt;
    try {
      virt = await openVirt(uri);
      if (record.spec.type === 'lxc' && (record.status === 'realized' || record.status === 'starting')) {
        const state = (await virt.getDomain(record.domain))?.state;
        if (state === 'running' || state === 'paused') await followConsole(name, record, virt, me);
      }
    } catch (err) {
      // not knowing is not "stopped": the VE lives on until libvirtd answers again (and the watcher looks again)
      deps.log(`job ${record.jobId}: cannot see domain ${record.domain} (${(err as Error).message}); looking again when libvirtd is back`);
      await dropVirt(uri);
      return;
    }
    // only the job's own host tells its job body; a sister part has none
    const jobDir = findJobDir(deps.stateDir, name);
    if ((record.part ?? 0) > 0 || !hasJobBodyChannel(jobDir) || readJobBodyAnswer(jobDir) !== undefined) {
      quiet(me);
      return;
    }
    me.multiNode = record.nodes !== undefined && record.nodes > 1;
    const fate = await readFate(name, record, virt, me);
    if (fate.kind === 'keep') {
      if (me.downSince !== undefined) deps.log(`job ${record.jobId}: ${fate.message}`);
      quiet(me);
      return;
    }
    if (fate.kind === 'wait') {
      if (me.downSince === undefined) deps.log(`job ${record.jobId}: ${fate.message}`);
      me.downSince ??= deps.clock.now().getTime();
      if (me.timer !== undefined) clearTimeout(me.timer);
      me.timer = setTimeout(() => { schedule(name); }, Math.max(0, fate.until - deps.clock.now().getTime()) + 100);
      // the recovery's word (recovery.json, ve.json) comes as a file: look when the directory changes
      me.dirWatch ??= watch(jobDir, () => { schedule(name); });
      return;
    }
    // the end, decided again where nothing can change the VE meanwhile
    const final = await withVeJobLock(jobDir, 'watch', async () => {
      const current = readRecord(name);
      if (current === undefined || readJobBodyAnswer(jobDir) !== undefined) return undefined;
      const again = await readFate(name, current, virt, me);
      if (again.kind === 'end') answerJobBody(jobDir, again.exitCode, again.message);
      return again;
    });
    if (final?.kind === 'end') {
      deps.log(`job ${record.jobId}: ${final.message} (exit ${String(final.exitCode)})`);
      quiet(me);
      me.multiNode = false;
    } else if (final !== undefined) {
      schedule(name);
    }
  };

  // One look at a time per job directory; a look asked for while one runs runs once more after it.
  const schedule = (name: string): void => {
    if (abort.signal.aborted) return;
    if (running.has(name)) {
      again.add(name);
      return;
    }
    const p = look(name)
      .catch((err: unknown) => { deps.log(`job directory ${name}: ${err instanceof Error ? err.message : String(err)}`); })
      .finally(() => {
        running.delete(name);
        if (again.delete(name)) schedule(name);
      });
    running.set(name, p);
  };

  const settle = async (): Promise<void> => {
    while (running.size > 0) await Promise.all([...running.values()]);
  };

  const rescan = async (): Promise<void> => {
    for (const name of listVeJobDirNames(deps.stateDir)) schedule(name);
    await settle();
  };

  // Multi-node VEs: their other parts live on other hosts, seen here only through the inventory.
  const readParts = async (): Promise<void> => {
    for (const [name, w] of watched) {
      if (w.multiNode !== true) continue;
      const record = readRecord(name);
      if (record === undefined) continue;
      try {
        const ended = findEndedPart(await deps.readParts(record.jobId), record.startCount);
        partsFailures = 0;
        if (ended !== undefined) {
          w.endedPart = ended;
          schedule(name);
        }
      } catch (err) {
        // the inventory being away says nothing about the parts: keep the VE
        if (partsFailures++ % 30 === 0) deps.log(`cannot read the parts of job ${record.jobId} (${(err as Error).message}); still waiting`);
      }
    }
  };
  partsTimer = setInterval(() => {
    if ([...watched.values()].some((w) => w.multiNode === true)) void readParts();
  }, deps.partsEveryMs);

  const onEvent = (domain: string): void => {
    const part = parseDomainPart(domain);
    if (part === undefined) return;
    schedule(domain.slice('pbsve-'.length));
  };

  // One event stream per URI, for the watcher's whole life: after each loss, connect again and look at everything.
  const follow = async (uri: string): Promise<void> => {
    let pause = deps.reconnectMs;
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        const virt = await deps.openVirt(uri);
        try {
          await virt.watchDomainEvents((e) => { onEvent(e.domain); }, () => {
            pause = deps.reconnectMs;
            if (failures > 0) deps.log(`libvirt ${uri}: events again; looking at every VE`);
            failures = 0;
            void rescan();
          }, abort.signal);
        } finally {
          await virt.close().catch(() => undefined);
        }
      } catch (err) {
        if (failures++ === 0) deps.log(`libvirt ${uri}: no events (${(err as Error).message}); trying again`);
      }
      if (abort.signal.aborted) break;
      await dropVirt(uri);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        abort.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
      pause = Math.min(MAX_RECONNECT_MS, pause * 2);
    }
  };
  const streams = deps.uris.map((uri) => follow(uri));

  await rescan();
  return {
    rescan,
    settle,
    stop: async () => {
      abort.abort();
      if (partsTimer !== undefined) clearInterval(partsTimer);
      partsTimer = undefined;
      await Promise.all(streams);
      await settle();
      for (const w of watched.values()) {
        quiet(w);
        w.console?.copy.stop();
      }
      for (const uri of [...virts.keys()]) await dropVirt(uri);
    },
  };
}
