// b) one reconcile pass over a generated inventory in a real slapd, a fake Batch with ~1% drift;
// against a raw paged ldapsearch of the same entries, at two sizes to show it stays linear.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSlapd } from '../test/harness/slapd.js';
import { createLdapInventory } from '../src/inventory/ldap-inventory.js';
import { reconcile } from '../src/ve-monitor/reconcile.js';
import { buildVeDn, buildVesDn } from '../src/inventory/build-inventory-dn.js';
import { encodeVeAttributes, VE_ATTRIBUTES, VE_OBJECT_CLASS } from '../src/inventory/ve-entry.js';
import { encodeVeSpec } from '../src/core/encode-ve-spec.js';
import { runCommand } from '../src/core/run-command.js';
import { systemClock } from '../src/core/clock.js';
import { buildAddLdif } from './build-ldif.js';
import { timeMs } from './bench-row.js';
import type { Batch, BatchJob } from '../src/batch/batch.js';
import type { VeRecord } from '../src/inventory/inventory.js';

export interface ReconcileMeasure {
  readonly ves: number;
  readonly hosts: number;
  readonly loadMs: number;
  readonly reconcileMs: number;
  readonly ldapsearchMs: number;
  readonly drift: number;
  readonly getJobCalls: number;
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
    const search = await timeMs(() => runCommand('ldapsearch', [
      '-x', '-LLL', '-H', slapd.url, '-D', slapd.writerDn, '-w', slapd.writerPassword, '-b', buildVesDn(slapd.baseDn), '-s', 'one', '-E', 'pr=500/noprompt',
      `(objectClass=${VE_OBJECT_CLASS})`, ...VE_ATTRIBUTES,
    ], { timeoutMs: 600_000 }));
    if (search.value.exitCode !== 0) throw new Error(`ldapsearch failed: ${search.value.stderr.slice(0, 500)}`);
    const found = (search.value.stdout.match(/^dn: /gm) ?? []).length;
    if (found !== n) throw new Error(`ldapsearch found ${found} of ${n} entries`);
    const inventory = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn, bindDn: slapd.writerDn, password: slapd.writerPassword, timeoutMs: 120_000 });
    try {
      await inventory.getVe('1');
      const batch = buildFakeBatch(n, hosts);
      const pass = await timeMs(() => reconcile({ inventory, batch, clock: systemClock, veQueue: 'batch' }, { dryRun: false }));
      // the lost ones are written; running jobs unknown to LDAP are reported only (their host's signed events add them)
      const expected = n / 100 + n / 100;
      const changed = pass.value.filter((d) => d.changed).length;
      if (pass.value.length !== expected || changed !== n / 100) throw new Error(`reconcile found ${pass.value.length} drift items (${changed} written), expected ${expected} (${n / 100} written)`);
      return { ves: n, hosts, loadMs: load.ms, reconcileMs: pass.ms, ldapsearchMs: search.ms, drift: pass.value.length, getJobCalls: batch.getJobCalls };
    } finally {
      await inventory.close();
    }
  } finally {
    await slapd.stop();
  }
}
