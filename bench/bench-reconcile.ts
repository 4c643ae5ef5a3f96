// b) one reconcile pass over a generated inventory in a real slapd, a fake Batch with ~1% drift;
// against a raw paged ldapsearch of the same entries and attributes (the live VEs, the five attributes
// listLiveVes asks), at two sizes to show it stays linear; each phase of the pass timed on its own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSlapd } from '../test/harness/slapd.js';
import { createLdapInventory } from '../src/inventory/ldap-inventory.js';
import { readClusterView, reconcile } from '../src/ve-monitor/reconcile.js';
import { buildVeDn, buildVesDn } from '../src/inventory/build-inventory-dn.js';
import { encodeVeAttributes } from '../src/inventory/ve-entry.js';
import { LIVE_VE_ATTRIBUTES } from '../src/inventory/live-ve-entry.js';
import { buildVeFilter } from '../src/inventory/build-ve-filter.js';
import { encodeVeSpec } from '../src/core/encode-ve-spec.js';
import { runCommand } from '../src/core/run-command.js';
import { systemClock } from '../src/core/clock.js';
import { buildAddLdif } from './build-ldif.js';
import { timeMs } from './bench-row.js';
import type { Batch, BatchJob } from '../src/batch/batch.js';
import type { Inventory, VeRecord } from '../src/inventory/inventory.js';

export interface ReconcileMeasure {
  readonly ves: number;
  readonly hosts: number;
  readonly loadMs: number;
  readonly reconcileMs: number;
  readonly ldapsearchMs: number;
  readonly drift: number;
  readonly getJobCalls: number;
  /** the pass's phases, wall ms: both listings, the comparison, the repairs, the unknown-job checks, the rest (sorting) */
  readonly phases: { readonly listMs: number; readonly compareMs: number; readonly repairMs: number; readonly unknownMs: number; readonly restMs: number };
  /** CPU (user + system) of this process during the pass */
  readonly cpuMs: number;
}

/** job ids of the running jobs LDAP does not know (buildFakeBatch): their getVe calls are the unknown-job checks */
const UNKNOWN_JOB_BASE = 10_000_000;

interface InventoryCall { readonly jobId: string | undefined; readonly start: number; readonly end: number }

// The inventory as it is, each call's span recorded: the phases of a pass are told apart by what they call.
function recordInventoryCalls(inventory: Inventory, calls: InventoryCall[]): Inventory {
  const timed = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, jobIdOf: (...args: A) => string | undefined) => async (...args: A): Promise<R> => {
    const start = performance.now();
    try {
      return await fn(...args);
    } finally {
      calls.push({ jobId: jobIdOf(...args), start, end: performance.now() });
    }
  };
  return {
    ...inventory,
    getVe: timed((id: string) => inventory.getVe(id), (id) => id),
    updateVe: timed((r: VeRecord, seq: number) => inventory.updateVe(r, seq), (r) => r.jobId),
    addHistory: timed((h: Parameters<Inventory['addHistory']>[0]) => inventory.addHistory(h), (h) => h.jobId),
  };
}

// Wall spans from the recorded calls: repairs are the calls about listed VEs, checks the ones about unknown jobs.
function splitPhases(calls: readonly InventoryCall[], listed: number, passStart: number, passEnd: number): ReconcileMeasure['phases'] {
  const span = (c: readonly InventoryCall[]): { from: number; to: number } | undefined =>
    c.length === 0 ? undefined : { from: Math.min(...c.map((x) => x.start)), to: Math.max(...c.map((x) => x.end)) };
  const repairs = span(calls.filter((c) => c.jobId !== undefined && Number(c.jobId) < UNKNOWN_JOB_BASE));
  const unknown = span(calls.filter((c) => c.jobId !== undefined && Number(c.jobId) >= UNKNOWN_JOB_BASE));
  const firstCall = Math.min(repairs?.from ?? passEnd, unknown?.from ?? passEnd);
  const lastCall = Math.max(repairs?.to ?? passStart, unknown?.to ?? passStart);
  return {
    listMs: listed - passStart,
    compareMs: firstCall - listed,
    repairMs: repairs === undefined ? 0 : repairs.to - repairs.from,
    unknownMs: unknown === undefined ? 0 : unknown.to - unknown.from,
    restMs: passEnd - Math.max(lastCall, listed),
  };
}

function buildRecord(i: number, hosts: number): VeRecord {
  const jobId = String(i);
  return {
    jobId, name: `ve${i}`, owner: `user${i % 50}`, type: i % 3 === 0 ? 'kvm' : 'lxc', image: 'tiny', vcpus: 1 + (i % 4), memoryMiB: 256, state: 'running',
    host: `h${String(i % hosts).padStart(4, '0')}`, domain: `pbsve-${jobId}`, seq: 1_000_001, lastChange: '2026-05-01T10:00:00.000Z',
  };
}

function buildJob(jobId: string, host: string, patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: `ve-${jobId}`, owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: [host], variables: {}, comment: undefined,
    resources: { cpus: 1, memoryMiB: 256, walltimeSeconds: 86400, nodeCount: 1, features: ['lxc'] }, startCount: 1, exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

// The batch side of the drift: 0.5% of the VEs' jobs are gone, 0.5% ended, and 1% of running VE
// jobs are unknown to LDAP; getJob is counted, since one call per VE would be the non-linear path.
function buildFakeBatch(n: number, hosts: number): Batch & { getJobCalls: number } {
  const jobs: BatchJob[] = [];
  for (let i = 1; i <= n; i++) {
    if (i % 200 === 0) continue;
    jobs.push(buildJob(String(i), `h${String(i % hosts).padStart(4, '0')}`, i % 200 === 100 ? { state: 'completed', rawState: 'COMPLETED' } : {}));
  }
  for (let k = 0; k < n / 100; k++) {
    const jobId = String(10_000_000 + k);
    const spec = encodeVeSpec({ version: 1, name: `new${k}`, type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 86400 });
    jobs.push(buildJob(jobId, `h${String(k % hosts).padStart(4, '0')}`, { variables: { VE_SPEC: spec } }));
  }
  const no = (): Promise<never> => Promise.reject(new Error('not part of the benchmark'));
  const fake = {
    kind: 'slurm' as const, getJobCalls: 0,
    submit: no, cancel: no, listNodes: no, setNodeOffline: no, setNodeOnline: no, requeue: no, readJobScript: no, setTimeLimit: no, moveJob: no,
    buildAttachCommand: (): never => { throw new Error('not part of the benchmark'); },
    getJob: (): Promise<BatchJob | undefined> => { fake.getJobCalls++; return Promise.resolve(undefined); },
    listJobs: (filter?: { readonly queue?: string }) => Promise.resolve(jobs.filter((j) => filter?.queue === undefined || j.queue === filter.queue)),
  };
  return fake;
}

export async function measureReconcile(n: number, hosts = 1250): Promise<ReconcileMeasure> {
  const slapd = await startSlapd();
  try {
    const ldifFile = join(slapd.dir, 'ves.ldif');
    let ldif = '';
    for (let i = 1; i <= n; i++) ldif += buildAddLdif(buildVeDn(slapd.baseDn, String(i)), encodeVeAttributes(buildRecord(i, hosts)));
    writeFileSync(ldifFile, ldif);
    const load = await timeMs(() => runCommand('ldapadd', ['-x', '-H', slapd.url, '-D', slapd.rootDn, '-w', slapd.rootPassword, '-f', ldifFile], { timeoutMs: 1_800_000 }));
    if (load.value.exitCode !== 0) throw new Error(`ldapadd failed: ${load.value.stderr.slice(0, 500)}`);
    // the floor asks what listLiveVes asks: the same filter (live VEs), attributes and page size
    const search = await timeMs(() => runCommand('ldapsearch', [
      '-x', '-LLL', '-H', slapd.url, '-D', slapd.writerDn, '-w', slapd.writerPassword, '-b', buildVesDn(slapd.baseDn), '-s', 'one', '-E', 'pr=500/noprompt',
      buildVeFilter({}).toString(), ...LIVE_VE_ATTRIBUTES,
    ], { timeoutMs: 600_000 }));
    if (search.value.exitCode !== 0) throw new Error(`ldapsearch failed: ${search.value.stderr.slice(0, 500)}`);
    const found = (search.value.stdout.match(/^dn: /gm) ?? []).length;
    if (found !== n) throw new Error(`ldapsearch found ${found} of ${n} entries`);
    const inventory = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn, bindDn: slapd.writerDn, password: slapd.writerPassword, timeoutMs: 120_000 });
    try {
      await inventory.getVe('1');
      const batch = buildFakeBatch(n, hosts);
      const calls: InventoryCall[] = [];
      const deps = { inventory: recordInventoryCalls(inventory, calls), batch, clock: systemClock, veQueue: 'batch' };
      // reconcile() reads its view itself; here the same two steps are timed apart
      const cpu = process.cpuUsage();
      const passStart = performance.now();
      let listed = passStart;
      const pass = await timeMs(async () => {
        const view = await readClusterView(deps);
        listed = performance.now();
        return reconcile(deps, { dryRun: false }, view);
      });
      const passEnd = performance.now();
      const used = process.cpuUsage(cpu);
      // the lost ones are written; running jobs unknown to LDAP are reported only (their host's signed events add them)
      const expected = n / 100 + n / 100;
      const changed = pass.value.filter((d) => d.changed).length;
      if (pass.value.length !== expected || changed !== n / 100) throw new Error(`reconcile found ${pass.value.length} drift items (${changed} written), expected ${expected} (${n / 100} written)`);
      return {
        ves: n, hosts, loadMs: load.ms, reconcileMs: pass.ms, ldapsearchMs: search.ms, drift: pass.value.length, getJobCalls: batch.getJobCalls,
        phases: splitPhases(calls, listed, passStart, passEnd), cpuMs: (used.user + used.system) / 1000,
      };
    } finally {
      await inventory.close();
    }
  } finally {
    await slapd.stop();
  }
}
