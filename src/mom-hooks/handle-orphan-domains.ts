// Orphan pbsve-* domains on this host: reported at once, destroyed (as root, here) only after a grace
// period and only while the batch system still shows no job that claims them.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { parseDomainName } from '../core/build-domain-name.js';
import { classifyOrphanDomains, type OrphanDomain } from './classify-orphan-domains.js';
import { createDomainSnapshots } from '../virt/virsh-snapshots.js';
import type { Batch, BatchJob } from '../batch/batch.js';
import type { Virt, DomainInfo } from '../virt/virt.js';
import type { Clock } from '../core/clock.js';

export interface HandleOrphanDomainsDeps {
  readonly stateDir: string;
  readonly batch: Pick<Batch, 'getJob'>;
  readonly openVirt: (uri: string) => Promise<Virt>;
  readonly clock: Clock;
  readonly graceMs: number;
  readonly log: (line: string) => void;
  /** forgets libvirt's snapshot metadata, which makes undefine refuse; default: virsh */
  readonly forgetSnapshots?: (uri: string, domain: string) => Promise<void>;
}

export interface HandledOrphan extends OrphanDomain {
  /** destroyed: gone now; kept: grace not over, or the batch system could not be asked */
  readonly outcome: 'destroyed' | 'kept' | 'destroy-failed';
}

/** A candidate orphan and the libvirt connection that showed it. */
export interface OrphanCandidate {
  readonly domain: DomainInfo;
  readonly uri: string;
}

// <stateDir>/host/<host>-orphans.json: "<host>/<domain>" -> first seen; per host, as sandboxes share stateDir.
function ledgerPath(stateDir: string, host: string): string {
  return join(stateDir, 'host', `${host}-orphans.json`);
}

// A lost or torn ledger restarts every grace period: it can delay a destroy, never cause one.
function readLedger(file: string): Map<string, string> {
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof raw !== 'object' || raw === null) return new Map();
    return new Map(Object.entries(raw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return new Map();
  }
}

function writeLedger(file: string, firstSeen: ReadonlyMap<string, string>): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o755 });
  writeFileNoFollow(file, `${JSON.stringify(Object.fromEntries(firstSeen), null, 2)}\n`, { mode: 0o644 });
}

async function forgetSnapshotsByVirsh(uri: string, domain: string): Promise<void> {
  const snapshots = createDomainSnapshots(uri);
  for (const name of await snapshots.list(domain).catch(() => [] as string[])) await snapshots.forget(domain, name).catch(() => undefined);
}

// Destroy, forget snapshot metadata (undefine refuses otherwise), undefine: the domain, never its disks.
async function destroyOrphan(orphan: OrphanDomain, uri: string, deps: HandleOrphanDomainsDeps): Promise<void> {
  const virt = await deps.openVirt(uri);
  try {
    await virt.destroyDomain(orphan.domain);
    await (deps.forgetSnapshots ?? forgetSnapshotsByVirsh)(uri, orphan.domain);
    await virt.undefineDomain(orphan.domain);
  } finally {
    await virt.close();
  }
}

/**
 * The orphans of this host: the batch system is asked about each one's job (by the job id in its
 * name) on every run, so a job that claims the domain, even one placed after the grace began, keeps
 * it. If the batch system cannot be asked, nothing is destroyed in this run.
 */
export async function handleOrphanDomains(host: string, candidates: readonly OrphanCandidate[], deps: HandleOrphanDomainsDeps): Promise<HandledOrphan[]> {
  const file = ledgerPath(deps.stateDir, host);
  const previous = readLedger(file);
  if (candidates.length === 0) {
    if (previous.size > 0) writeLedger(file, new Map());
    return [];
  }
  const jobs: BatchJob[] = [];
  let batchProblem: string | undefined;
  for (const c of candidates) {
    const jobId = parseDomainName(c.domain.name);
    if (jobId === undefined) continue;
    try {
      const job = await deps.batch.getJob(jobId);
      if (job !== undefined) jobs.push(job);
    } catch (err) {
      batchProblem = err instanceof Error ? err.message : String(err);
    }
  }
  const now = deps.clock.now();
  const { orphans, firstSeen } = classifyOrphanDomains([{ host, domains: candidates.map((c) => c.domain) }], jobs, previous, now, deps.graceMs);
  writeLedger(file, firstSeen);
  const uriOf = new Map(candidates.map((c) => [c.domain.name, c.uri]));
  const handled: HandledOrphan[] = [];
  for (const orphan of orphans) {
    const uri = uriOf.get(orphan.domain);
    if (batchProblem !== undefined) {
      handled.push({ ...orphan, action: 'report', outcome: 'kept', reason: `not checked, the batch system could not be asked: ${batchProblem}` });
      continue;
    }
    if (orphan.action !== 'destroy' || uri === undefined) {
      handled.push({ ...orphan, outcome: 'kept' });
      continue;
    }
    try {
      await destroyOrphan(orphan, uri, deps);
      handled.push({ ...orphan, outcome: 'destroyed' });
    } catch (err) {
      deps.log(`orphan domain ${orphan.domain}: destroy failed: ${err instanceof Error ? err.message : String(err)}`);
      handled.push({ ...orphan, outcome: 'destroy-failed' });
    }
  }
  if (batchProblem !== undefined) deps.log(`orphan domains kept this run: the batch system could not be asked (${batchProblem})`);
  for (const o of handled) deps.log(`orphan domain ${o.domain} (${o.state}) since ${o.firstSeen}: ${o.outcome === 'kept' ? 'reported' : o.outcome}: ${o.reason}`);
  return handled;
}
