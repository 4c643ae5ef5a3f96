// Issue 9, defects 1, 7, 8 and 11: the host hooks as the live TORQUE 6.1 runs them (umask 077, an epilogue
// started while the prologue still runs, a prologue that fails before it made anything, a sister's epilogue).
// libvirt, the disks and the event sink are fakes; the state directory, records, locks and markers are real.
import { createFakeEventSink } from '../fakes/fake-event-sink.js';
import { createFakeVirt } from '../fakes/fake-virt.js';
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { formatSpecLine } from '../../src/core/encode-ve-spec.js';
import { VeError } from '../../src/core/ve-error.js';
import { isPrologueRetried } from '../../src/core/decide-exit-code.js';
import { realizeVe, VE_CANCELLED, type RealizeVeDeps } from '../../src/prologue/realize-ve.js';
import { describeJobEnd, isLeaseOver, teardownVe, type JobEndEvidence, type TeardownVeDeps } from '../../src/epilogue/teardown-ve.js';
import { findJobDir, readVeJobRecord, writeVeRefusal } from '../../src/host/ve-job-record.js';
import { writeVeRecoveryRecord } from '../../src/host/ve-recovery-record.js';
import { markVeJobEnding } from '../../src/host/ve-job-ending.js';
import { makeReadableDir } from '../../src/host/make-readable-dir.js';
import { readTorquePelogContext } from '../../src/batch/read-torque-pelog-context.js';
import type { Batch, BatchJob, PelogContext } from '../../src/batch/batch.js';
import type { DomainInfo, DomainState, Virt } from '../../src/virt/virt.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { VeSpec } from '../../src/core/ve-spec.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const spec: VeSpec = { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600 };

// One libvirtd's domains in memory; startDomain can be held to let an epilogue come in between.
function buildVirt(domains: Map<string, DomainState>, hold?: Promise<void>): Virt {
  return createFakeVirt({
    uri: 'lxc:///system',
    defineDomain: (xml) => { const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? '?'; domains.set(name, 'shutoff'); return Promise.resolve(); },
    startDomain: async (name) => { await hold; if (!domains.has(name)) throw new Error(`domain ${name} not found`); domains.set(name, 'running'); },
    getDomain: (name) => Promise.resolve(domains.has(name) ? { name, state: domains.get(name), persistent: true } as DomainInfo : undefined),
    listDomains: () => Promise.resolve([]),
    destroyDomain: (name) => { if (domains.has(name)) domains.set(name, 'shutoff'); return Promise.resolve(); },
    shutdownDomain: () => Promise.resolve(),
    undefineDomain: (name) => { domains.delete(name); return Promise.resolve(); },
    getDomainXml: () => Promise.resolve('<domain><devices><console type="pty"><source path="/dev/pts/7"/></console></devices></domain>'),
    waitForState: (name) => Promise.resolve(domains.get(name)),
    close: () => Promise.resolve(),
  });
}

interface World { config: PbsVeConfig; domains: Map<string, DomainState>; events: VeEvent[]; job: BatchJob }

function buildWorld(t: Test): World {
  const root = mkdtempSync(join(tmpdir(), 'pbsve-pelog-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  mkdirSync(join(root, 'images', 'tiny.rootfs'), { recursive: true });
  writeFileSync(join(root, 'images', 'tiny.json'), JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny.rootfs' }));
  const config = parseConfig({
    batch: { kind: 'torque' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: { default: {} } },
    imageDir: join(root, 'images'), stateDir: join(root, 'state'), installDir: root,
  });
  const job = {
    jobId: '15.vm', name: 've-web1', owner: 'user1', state: 'running', rawState: 'R', queue: 'batch', execHosts: ['vm'], variables: {}, comment: undefined,
    resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1, exitStatus: undefined, submitTime: undefined, startTime: undefined,
  } satisfies BatchJob;
  return { config, domains: new Map(), events: [], job };
}

const prologueCtx: PelogContext = { jobId: '15.vm', user: 'user1', group: 'user1', jobName: 've-web1', queue: 'batch', host: 'vm', scriptPath: '/x.SC', exitStatus: undefined, resources: undefined, sister: false };
const epilogueCtx = (exitStatus: number, over: Partial<PelogContext> = {}): PelogContext => ({ ...prologueCtx, exitStatus, ...over });

function buildBatch(job: BatchJob): Batch {
  return { ...createFakeBatch({}), getJob: () => Promise.resolve(job) };
}

const fakeEvents = (w: World): RealizeVeDeps['events'] => (createFakeEventSink({
  emit: (events) => { w.events.push(...events); return Promise.resolve({ sent: events.length, pending: 0 }); },
  flush: () => Promise.resolve({ sent: 0, pending: 0 }),
}));

function prologueDeps(w: World, over: Partial<RealizeVeDeps> = {}, hold?: Promise<void>): RealizeVeDeps {
  return {
    batch: buildBatch(w.job), config: w.config, clock: { now: () => new Date(), sleep: () => Promise.resolve() }, log: () => undefined,
    events: fakeEvents(w),
    disks: {
      checkSpace: (_i, _d, jobsDir) => { makeReadableDir(w.config.stateDir, jobsDir); return Promise.resolve(); },
      prepare: (_i, jobDir) => { mkdirSync(join(jobDir, 'rootfs'), { recursive: true }); return Promise.resolve({ rootfsDir: join(jobDir, 'rootfs'), diskPath: undefined, dataDisks: [] }); },
      remove: (jobDir) => { rmSync(join(jobDir, 'rootfs'), { recursive: true, force: true }); return Promise.resolve(); },
      keepDataDisks: () => Promise.resolve([]),
    },
    openVirt: () => Promise.resolve(buildVirt(w.domains, hold)),
    readJobScript: () => Promise.resolve(`#!/bin/sh\n${formatSpecLine(spec)}\n`),
    findOwner: () => Promise.resolve({ uid: 65534, gid: 65534 }),
    console: { prepareLog: () => Promise.resolve() },
    networks: { ensure: () => Promise.resolve(), release: () => Promise.resolve([]), readLeases: () => Promise.resolve([]) },
    ...over,
  };
}

function epilogueDeps(w: World, over: Partial<TeardownVeDeps> = {}): TeardownVeDeps {
  const p = prologueDeps(w);
  return { config: w.config, clock: p.clock, log: () => undefined, events: p.events, disks: p.disks, openVirt: p.openVirt, ...(p.console === undefined ? {} : { console: p.console }), ...(p.networks === undefined ? {} : { networks: p.networks }), ...over };
}

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

void t.test('defect 1: under TORQUE\'s umask 077 the owner can still reach and read the VE record', async (t) => {
  const w = buildWorld(t);
  const before = process.umask(0o077);
  t.teardown(() => { process.umask(before); });
  const out = await realizeVe(prologueCtx, prologueDeps(w));
  t.equal(out.kind, 'realized');
  const jobDir = findJobDir(w.config.stateDir, '15.vm');
  t.equal(modeOf(w.config.stateDir), '711', 'a state dir the hook created: everyone may pass (not list)');
  t.equal(modeOf(join(w.config.stateDir, 'jobs')), '755');
  t.equal(modeOf(jobDir), '711', 'the job dir: the owner opens its files by name, nobody lists it (issue 10, item 4)');
  t.equal(modeOf(join(jobDir, 've.json')), '644', 'the job body (the owner) reads it');
  writeVeRefusal(w.config.stateDir, '16.vm', 'bad spec');
  t.equal(modeOf(join(findJobDir(w.config.stateDir, '16.vm'), 'refused')), '644');
  t.equal(modeOf(findJobDir(w.config.stateDir, '16.vm')), '711');
  writeVeRecoveryRecord(w.config.stateDir, '15.vm', { phase: 'recovering', reason: 'x', updatedAt: new Date().toISOString(), restarts: [] });
  t.equal(modeOf(join(jobDir, 'recovery.json')), '644');
  t.equal(process.umask(0o077), 0o077, 'the umask really was 077 throughout');
});

void t.test('defect 1: a state dir left 0700 by an older version gets its search bit back; the admin\'s other bits stay', (t) => {
  const w = buildWorld(t);
  mkdirSync(w.config.stateDir, { mode: 0o700 });
  makeReadableDir(w.config.stateDir, findJobDir(w.config.stateDir, '1'));
  t.equal(modeOf(w.config.stateDir), '711');
  t.throws(() => { makeReadableDir(w.config.stateDir, '/etc/x'); }, { code: 'invalid-path' });
  t.end();
});

void t.test('defect 7: qdel during the prologue: the epilogue waits, the prologue undoes its VE, it ends destroyed with no domain', async (t) => {
  const w = buildWorld(t);
  let release = (): void => undefined;
  const hold = new Promise<void>((r) => { release = r; });
  let started = (): void => undefined;
  const inStart = new Promise<void>((r) => { started = r; });
  const deps = prologueDeps(w, {}, hold.then(() => undefined));
  const openVirt = deps.openVirt;
  const prologue = realizeVe(prologueCtx, { ...deps, openVirt: async (uri) => { const v = await openVirt(uri); const start = v.startDomain.bind(v); return { ...v, startDomain: (n: string) => { started(); return start(n); } }; } });
  const prologueDone = prologue.then(() => 'resolved', (e: unknown) => e);
  await inStart;
  t.equal(readVeJobRecord(w.config.stateDir, '15.vm')?.status, 'starting', 'the prologue is inside its start');
  const epilogue = teardownVe(epilogueCtx(271), epilogueDeps(w));
  // the epilogue has said "ending" and waits for the VE's lock; only now may the start go on
  for (let i = 0; i < 200 && !existsSync(join(findJobDir(w.config.stateDir, '15.vm'), 'ending-vm')); i++) await new Promise((r) => setTimeout(r, 5));
  release();
  const err = await prologueDone;
  t.match(err, { code: VE_CANCELLED, kind: 'prereq' }, 'the prologue stops, as a cancellation');
  t.notOk(isPrologueRetried(err, 'torque-prologue'), 'not retried: TORQUE aborts the deleted job');
  t.match(await epilogue, { kind: 'already-gone' });
  t.same([...w.domains.keys()], [], 'no domain left: not defined, not orphaned');
  t.same(w.events.map((e) => [e.state, e.source]), [['destroyed', 'prologue']], 'one event: destroyed, never failed');
  t.match(w.events[0]?.reason, /deleted while its VE was starting/);
  t.equal(readVeJobRecord(w.config.stateDir, '15.vm')?.status, 'destroyed');
});

void t.test('defect 7: an epilogue that ran before the prologue got to its first step leaves nothing to orphan', async (t) => {
  const w = buildWorld(t);
  const started = new Date(Date.now() - 1000);
  t.match(await teardownVe(epilogueCtx(271), epilogueDeps(w)), { kind: 'not-a-ve' }, 'no record yet: nothing to tear down');
  const err = await realizeVe(prologueCtx, { ...prologueDeps(w), clock: { now: () => started, sleep: () => Promise.resolve() } }).then(() => undefined, (e: unknown) => e);
  t.match(err, { code: VE_CANCELLED });
  t.same([...w.domains.keys()], [], 'no domain was defined');
  t.same(w.events.map((e) => e.state), ['destroyed']);
});

void t.test('defect 7: the epilogue of an earlier start (requeued onto this host) does not stop the next start', async (t) => {
  const w = buildWorld(t);
  markVeJobEnding(w.config.stateDir, '15.vm', 'vm', new Date(Date.now() - 60_000));
  t.match(await realizeVe(prologueCtx, prologueDeps(w)), { kind: 'realized' });
  t.same([...w.domains.entries()], [['pbsve-15.vm', 'running']]);
  const out = await teardownVe(epilogueCtx(271), epilogueDeps(w));
  t.match(out, { kind: 'destroyed', reason: 'job deleted (qdel/scancel) by its owner or an admin' });
  t.same([...w.domains.keys()], []);
  t.same(w.events.map((e) => e.state), ['running', 'destroyed']);
});

void t.test('defect 8: a prologue that fails before it creates anything reports failed, with the reason', async (t) => {
  const w = buildWorld(t);
  const missing = `#!/bin/sh\n${formatSpecLine({ ...spec, image: 'gone' })}\n`;
  const err = await realizeVe(prologueCtx, { ...prologueDeps(w), readJobScript: () => Promise.resolve(missing) }).then(() => undefined, (e: unknown) => e);
  t.match(err, { code: 'image-not-in-catalog' });
  t.same(w.domains.size, 0);
  t.same(w.events.map((e) => [e.state, e.source, e.name, e.owner]), [['failed', 'prologue', 'web1', 'user1']]);
  t.match(w.events[0]?.reason, /image: "gone" is not in the catalog/);
});

void t.test('defect 8: a spec that does not fit the job\'s allocation is reported failed too', async (t) => {
  const w = buildWorld(t);
  const greedy = `#!/bin/sh\n${formatSpecLine({ ...spec, vcpus: 2 })}\n`;
  await t.rejects(realizeVe(prologueCtx, { ...prologueDeps(w), readJobScript: () => Promise.resolve(greedy) }), { code: 'spec-exceeds-allocation', kind: 'prereq' });
  t.same(w.events.map((e) => [e.state, e.vcpus]), [['failed', 2]]);
  t.match(w.events[0]?.reason, /vcpus 2 > 1 allocated/);
});

void t.test('defect 8: a host fault the batch system retries says so (starting), the last one says failed', async (t) => {
  const w = buildWorld(t);
  const fault = new VeError('owner-lookup-failed', 'environment', 'getent passwd: NSS does not answer');
  let bounded = 0;
  const deps = prologueDeps(w, {
    findOwner: () => Promise.reject(fault),
    isRetried: (e) => isPrologueRetried(e, 'torque-prologue'),
    // the TORQUE bound: the second fault is the last here
    boundFault: (e) => Promise.resolve(++bounded < 2 ? e : new VeError('host-fault-retries-exhausted', 'prereq', 'job met its host fault 2 of at most 2', { cause: e })),
  });
  await t.rejects(realizeVe(prologueCtx, deps), { code: 'owner-lookup-failed' });
  await t.rejects(realizeVe(prologueCtx, deps), { code: 'host-fault-retries-exhausted' });
  t.same(w.events.map((e) => e.state), ['starting', 'failed']);
  t.match(w.events[0]?.reason, /host fault on vm, the job goes back to the queue: getent passwd/);
  t.ok((w.events[1]?.seq ?? 0) > (w.events[0]?.seq ?? 0), 'in order');
});

void t.test('defect 11: how the job ended, in the owner\'s words, on the first host and on a sister', (t) => {
  const e = (over: Partial<JobEndEvidence>): string => describeJobEnd({ domainState: 'running', exitStatus: 0, sister: false, leaseOver: false, endCause: undefined, parts: 2, ...over });
  t.equal(e({ domainState: 'shutoff' }), 'guest powered off or domain gone');
  t.equal(e({ exitStatus: 271 }), 'job deleted (qdel/scancel) by its owner or an admin');
  t.equal(e({ exitStatus: -11 }), 'lease expired (the job reached its walltime)', 'TORQUE JOB_EXEC_OVERLIMIT_WT');
  t.match(e({ exitStatus: 0 }), /another part stopped, or the job was cancelled/, 'Slurm\'s Epilog sees 0 after scancel too (multi-node test)');
  t.equal(e({ sister: true, leaseOver: true }), 'lease expired (the job reached its walltime)', 'a sister sees the used walltime');
  t.equal(e({ sister: true, endCause: 'cancelled' }), 'job deleted (qdel/scancel) by its owner or an admin', 'Slurm says CANCELLED');
  t.equal(e({ sister: true, exitStatus: 271 }), e({ sister: true }), 'a sister\'s exit status means nothing');
  t.notMatch(e({ sister: true }), /exit status 0/, 'never "exit status 0: cancelled or lease expired" again');
  t.ok(isLeaseOver(3600, 3600));
  t.ok(isLeaseOver(3597, 3600), 'the batch daemon polls: a few seconds short still is the lease');
  t.notOk(isLeaseOver(1200, 3600));
  t.notOk(isLeaseOver(undefined, 3600));
  // the used walltime reaches the epilogue as TORQUE's $7 (fixtures pelog/epilogue.15.vm.txt layout)
  const argv = ['15.vm', 'user1', 'user1', 'jobA', '31639', 'nodes=2:ppn=1:lxc,walltime=01:00:00', 'cput=00:00:00,vmem=11640kb,walltime=01:00:02,mem=6788kb', 'batch', '', '0', ''];
  const sister = readTorquePelogContext(argv, {}, 'epilogue.parallel', 'vm2');
  t.equal(sister.usedWalltimeSeconds, 3602);
  t.ok(isLeaseOver(sister.usedWalltimeSeconds, sister.resources?.walltimeSeconds));
  t.end();
});

void t.test('defect 11: a sister asks the batch system when it cannot tell (Slurm TIMEOUT)', async (t) => {
  const w = buildWorld(t);
  await realizeVe(prologueCtx, prologueDeps(w));
  const asked: string[] = [];
  const out = await teardownVe(epilogueCtx(0, { sister: true }), epilogueDeps(w, { readJob: (id) => { asked.push(id); return Promise.resolve({ ...w.job, endCause: 'lease-expired' }); } }));
  t.match(out, { kind: 'destroyed', reason: 'lease expired (the job reached its walltime)' });
  t.same(asked, ['15.vm']);
  t.equal(w.events.at(-1)?.reason, 'lease expired (the job reached its walltime)');
});

void t.test('the batch system is asked how the job ended while libvirt destroys the domain, not after', async (t) => {
  const w = buildWorld(t);
  await realizeVe(prologueCtx, prologueDeps(w));
  const order: string[] = [];
  const deps = epilogueDeps(w, { readJob: (id) => { order.push('readJob'); return Promise.resolve({ ...w.job, jobId: id, endCause: 'cancelled' }); } });
  const openVirt = deps.openVirt;
  const out = await teardownVe(epilogueCtx(0, { sister: true }), { ...deps, openVirt: async (uri) => {
    const v = await openVirt(uri);
    const destroy = v.destroyDomain.bind(v);
    return { ...v, destroyDomain: async (n: string) => { order.push('destroy started'); await destroy(n); order.push('destroy done'); } };
  } });
  t.match(out, { kind: 'destroyed', reason: 'job deleted (qdel/scancel) by its owner or an admin' });
  t.same(order.slice(0, 2).sort(), ['destroy started', 'readJob'], 'asked before the destroy ended');
  t.equal(order.at(-1), 'destroy done');
});
