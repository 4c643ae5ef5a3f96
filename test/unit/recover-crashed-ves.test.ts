// The host-side recovery with fakes: which crashed domain is restarted, rolled back or given up, and
// which is left alone (a guest poweroff, a job that is ending, a record the epilogue marked).
import { createFakeEventSink } from '../fakes/fake-event-sink.js';
import { createFakeVirt } from '../fakes/fake-virt.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { recoverCrashedVes, type RecoverCrashedVesDeps } from '../../src/mom-hooks/recover-crashed-ves.js';
import { handleOrphanDomains } from '../../src/mom-hooks/handle-orphan-domains.js';
import { reportHostVes } from '../../src/mom-hooks/report-host-ves.js';
import { findJobDir, readVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import { readVeRecoveryRecord } from '../../src/host/ve-recovery-record.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { BatchJob } from '../../src/batch/batch.js';
import type { DomainInfo, DomainState, Virt } from '../../src/virt/virt.js';
import type { VeEvent } from '../../src/core/ve-event.js';

const spec = { version: 1 as const, name: 'web1', type: 'kvm' as const, image: 'tinyvm', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const t0 = new Date('2026-05-01T10:00:00Z');

function job(jobId: string, patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: 've-x', owner: 'u', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['kvm'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

// One fake libvirt host: domains with a state and a reason; start makes a domain run, destroy stops it.
function buildHost(domains: Record<string, { state: DomainState; reason: string }>): { virt: Virt; calls: string[] } {
  const calls: string[] = [];
  const info = (name: string): DomainInfo | undefined => (domains[name] === undefined ? undefined : { name, state: domains[name].state, persistent: true });
  const virt: Virt = createFakeVirt({
    uri: 'qemu:///fake',
    defineDomain: () => Promise.resolve(),
    startDomain: (name) => { calls.push(`start ${name}`); domains[name] = { state: 'running', reason: 'booted' }; return Promise.resolve(); },
    getDomain: (name) => Promise.resolve(info(name)),
    listDomains: () => Promise.resolve(Object.keys(domains).map((n) => info(n)).filter((d): d is DomainInfo => d !== undefined)),
    destroyDomain: (name) => { calls.push(`destroy ${name}`); if (domains[name] !== undefined) domains[name] = { state: 'shutoff', reason: 'destroyed' }; return Promise.resolve(); },
    shutdownDomain: () => Promise.resolve(),
    undefineDomain: (name) => { calls.push(`undefine ${name}`); Reflect.deleteProperty(domains, name); return Promise.resolve(); },
    getDomainXml: () => Promise.resolve('<domain/>'),
    waitForState: (name) => Promise.resolve(domains[name]?.state),
    getStateReason: (name) => Promise.resolve(domains[name] === undefined ? undefined : { state: domains[name].state, reason: domains[name].reason }),
    close: () => Promise.resolve(),
  });
  return { virt, calls };
}

function setup(domains: Record<string, { state: DomainState; reason: string }>, jobs: BatchJob[]) {
  const stateDir = makeTempDir(join(tmpdir(), 'pbsve-crash-'));
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir, installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  const host = buildHost(domains);
  const events: VeEvent[] = [];
  let now = t0;
  const deps: RecoverCrashedVesDeps = {
    config, clock: { now: () => now, sleep: () => Promise.resolve() }, openVirt: () => Promise.resolve(host.virt), log: () => undefined,
    events: createFakeEventSink({ emit: (e) => { events.push(...e); return Promise.resolve({ sent: e.length, pending: 0 }); }, flush: () => Promise.resolve({ sent: 0, pending: 0 }) }),
    batch: { getJob: (id) => Promise.resolve(jobs.find((j) => j.jobId === id)) },
    console: { prepareLog: () => Promise.resolve() },
    findOwner: () => Promise.resolve({ uid: 1000, gid: 1000 }),
    policy: { maxRestarts: 2, windowMs: 3600_000 },
  };
  const record = (jobId: string, status: VeJobRecord['status'] = 'realized'): VeJobRecord => {
    const r: VeJobRecord = { jobId, spec, owner: 'u', host: 'node1', domain: `pbsve-${jobId}`, uri: 'qemu:///fake', roUri: 'y', startCount: 1, status, reason: '', emulated: true };
    writeVeJobRecord(stateDir, r);
    return r;
  };
  return { stateDir, deps, host, events, record, advance: (ms: number) => { now = new Date(now.getTime() + ms); } };
}

void t.test('a killed domain is restarted up to the limit, then given up without a snapshot', async (t) => {
  const domains = { 'pbsve-1': { state: 'shutoff' as DomainState, reason: 'destroyed' } };
  const s = setup(domains, [job('1')]);
  const records = [s.record('1')];
  const run = async (): Promise<string[]> => (await recoverCrashedVes('node1', records, await s.host.virt.listDomains(), s.deps)).map((x) => `${x.action}: ${x.detail}`);
  t.match(await run(), [/^restart: restarted 1\/2 after a crash \(domain shutoff \(destroyed\)\)$/]);
  t.equal(domains['pbsve-1'].state, 'running');
  t.same(await run(), [], 'a running domain is left alone');
  domains['pbsve-1'] = { state: 'crashed', reason: 'panicked' };
  s.advance(60_000);
  t.match(await run(), [/^restart: restarted 2\/2/]);
  t.same(s.host.calls.slice(-2), ['destroy pbsve-1', 'start pbsve-1'], 'a crashed (not shut off) domain is destroyed before its start');
  domains['pbsve-1'] = { state: 'shutoff', reason: 'failed' };
  s.advance(60_000);
  t.match(await run(), [/^give-up: recovery gave up: crashed 3 times within 3600 s and has no snapshot to roll back to$/]);
  t.equal(domains['pbsve-1'].state, 'shutoff', 'not started again');
  t.equal(readVeJobRecord(s.stateDir, '1')?.status, 'failed', 'the record tells the job body and the epilogue');
  t.equal(readVeRecoveryRecord(s.stateDir, '1')?.phase, 'failed');
  t.same(s.events.map((e) => `${e.state} ${e.source}`), ['stopped mom-hook', 'running recovery', 'stopped mom-hook', 'running recovery', 'stopped mom-hook', 'failed recovery']);
  t.ok(s.events.every((e, i) => i === 0 || e.seq > (s.events[i - 1]?.seq ?? 0)), 'each event outranks the one before');
});

void t.test('a guest poweroff, an ending job, a job elsewhere and an epilogue under way are left alone', async (t) => {
  const domains = {
    'pbsve-2': { state: 'shutoff' as DomainState, reason: 'shutdown' },
    'pbsve-3': { state: 'shutoff' as DomainState, reason: 'destroyed' },
    'pbsve-4': { state: 'shutoff' as DomainState, reason: 'destroyed' },
    'pbsve-5': { state: 'shutoff' as DomainState, reason: 'destroyed' },
    'pbsve-6': { state: 'shutoff' as DomainState, reason: 'destroyed' },
  };
  const s = setup(domains, [job('2'), job('3', { state: 'exiting', rawState: 'COMPLETING' }), job('4', { execHosts: ['node2'] }), job('6')]);
  const records = [s.record('2'), s.record('3'), s.record('4'), s.record('5'), s.record('6', 'stopping')];
  const steps = await recoverCrashedVes('node1', records, await s.host.virt.listDomains(), s.deps);
  t.same(steps.map((x) => `${x.jobId} ${x.action}`), ['2 skipped', '3 skipped', '4 skipped', '5 skipped']);
  t.match(steps.map((x) => x.detail), [/shutdown/, /COMPLETING on node1: the epilogue's/, /on node2/, /unknown to the batch system/]);
  t.same(s.host.calls, [], 'nothing was started');
  t.same(s.events, []);
});

void t.test('orphans: reported, destroyed after the grace only while no job claims them', async (t) => {
  const domains: Record<string, { state: DomainState; reason: string }> = {
    'pbsve-7': { state: 'running', reason: 'booted' }, 'pbsve-8': { state: 'running', reason: 'booted' }, 'pbsve-9': { state: 'shutoff', reason: 'destroyed' },
  };
  const s = setup(domains, []);
  const jobs = [job('8', { state: 'queued', rawState: 'PENDING', execHosts: [] })];
  let batchDown = false;
  const deps = {
    stateDir: s.stateDir, openVirt: () => Promise.resolve(s.host.virt), clock: s.deps.clock, graceMs: 600_000, log: () => undefined,
    batch: { getJob: (id: string) => (batchDown ? Promise.reject(new Error('slurmctld down')) : Promise.resolve(jobs.find((j) => j.jobId === id))) },
    forgetSnapshots: () => Promise.resolve(),
  };
  const candidates = async () => (await s.host.virt.listDomains()).map((d) => ({ domain: d, uri: 'qemu:///fake' }));
  const first = await handleOrphanDomains('node1', await candidates(), deps);
  t.same(first.map((o) => `${o.domain} ${o.outcome}`), ['pbsve-7 kept', 'pbsve-9 kept'], 'pbsve-8 belongs to a queued job (a requeue may bring it back)');
  s.advance(600_000);
  batchDown = true;
  const blind = await handleOrphanDomains('node1', await candidates(), deps);
  t.same(blind.map((o) => `${o.domain} ${o.outcome}`), ['pbsve-7 kept', 'pbsve-8 kept', 'pbsve-9 kept'], 'nothing is destroyed while the batch system cannot be asked');
  t.match(blind[1]?.reason, /not checked, the batch system could not be asked: slurmctld down/);
  batchDown = false;
  jobs.push(job('7'));
  const late = await handleOrphanDomains('node1', await candidates(), deps);
  t.same(late.map((o) => `${o.domain} ${o.outcome}`), ['pbsve-9 destroyed'], 'job 7 now runs here and claims its domain, grace or not');
  t.same(s.host.calls, ['destroy pbsve-9', 'undefine pbsve-9']);
  t.same(Object.keys(domains).sort(), ['pbsve-7', 'pbsve-8']);
});

void t.test('the host report recovers first, then reports nothing twice and hands orphans over', async (t) => {
  const domains: Record<string, { state: DomainState; reason: string }> = {
    'pbsve-11': { state: 'shutoff', reason: 'destroyed' }, 'pbsve-12': { state: 'shutoff', reason: 'shutdown' }, 'pbsve-99': { state: 'running', reason: 'booted' },
  };
  const s = setup(domains, [job('11'), job('12')]);
  s.record('11');
  s.record('12');
  const lines: string[] = [];
  const report = await reportHostVes('node1', {
    config: s.deps.config, clock: s.deps.clock, events: s.deps.events, openVirt: s.deps.openVirt, uris: ['qemu:///fake'], log: (l) => lines.push(l),
    recovery: { batch: s.deps.batch, console: s.deps.console, findOwner: s.deps.findOwner, policy: s.deps.policy },
    orphans: { batch: s.deps.batch, graceMs: 600_000 },
  });
  t.same(report.recovery.map((x) => `${x.jobId} ${x.action}`), ['11 restart', '12 skipped']);
  t.same(report.changes.map((c) => `${c.record.jobId} ${c.state} ${c.reason}`), ['12 stopped guest powered off'], 'the restarted VE is not reported stopped; the powered-off one is');
  t.same(s.events.map((e) => `${e.jobId} ${e.state} ${e.source}`), ['11 stopped mom-hook', '11 running recovery', '12 stopped mom-hook']);
  t.same(report.handledOrphans.map((o) => `${o.domain} ${o.outcome}`), ['pbsve-99 kept']);
  t.match(lines.join('\n'), /orphan domain pbsve-99 \(running\) since .*: reported: job 99 unknown to the batch system/);
});

void t.test('the host report gives a console log virtlogd re-created (root 0600) back to the owner', async (t) => {
  const s = setup({ 'pbsve-21': { state: 'running', reason: 'booted' } }, [job('21')]);
  s.record('21');
  const log = join(findJobDir(s.stateDir, '21'), 'console.log');
  writeFileSync(log, 'after rotation\n', { mode: 0o600 });
  const lines: string[] = [];
  await reportHostVes('node1', {
    config: s.deps.config, clock: s.deps.clock, events: s.deps.events, openVirt: s.deps.openVirt, uris: ['qemu:///fake'], log: (l) => lines.push(l),
    findOwner: () => Promise.resolve({ uid: 4242, gid: 4343 }),
  });
  const st = statSync(log);
  t.same([st.uid, st.gid, st.mode & 0o777], [4242, 4343, 0o600]);
  t.match(lines.join('\n'), /job 21: console log\(s\) console.log given back to /);
});
