// The pure parts of multi-node VEs: spec, submit arguments of both backends, part index, names and
// record paths, events, and the fold of part events into LDAP (in memory).
import { createFakeInventory, type FakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { buildSlurmSbatchArgs } from '../../src/batch/build-slurm-sbatch-args.js';
import { buildTorqueQsubArgs } from '../../src/batch/build-torque-qsub-args.js';
import { checkSpecFitsAllocation } from '../../src/core/check-spec-fits-allocation.js';
import { buildTorqueJobResources } from '../../src/batch/parse-torque-resources.js';
import { findPartIndex } from '../../src/core/find-part-index.js';
import { buildDomainName, parseDomainName, parseDomainPart } from '../../src/core/build-domain-name.js';
import { findJobDir, findPartJobDir, readHostVeJobRecord, writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import { decodeVeEvent, encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { deriveVeState, foldMultiNodeVe, foldPartEvent } from '../../src/core/fold-part-event.js';
import { applyEvent, applyEvents } from '../../src/ve-monitor/apply-event.js';
import { readTorquePelogContext } from '../../src/batch/read-torque-pelog-context.js';
import { readSlurmPelogContext } from '../../src/batch/read-slurm-pelog-context.js';
import { findEndedPart } from '../../src/core/find-ended-part.js';
import { formatVeDetails } from '../../src/qsub-wrappers/show-ve.js';
import { formatVeTable } from '../../src/qsub-wrappers/list-ves.js';
import { VeError } from '../../src/core/ve-error.js';
import type { Batch, BatchJob, PelogContext, SubmitRequest } from '../../src/batch/batch.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { EventSink } from '../../src/events/event-sink.js';
import type { VeDisks } from '../../src/host/ve-disks.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { VeSpec } from '../../src/core/ve-spec.js';
import type { VePartRecord, VeRecord } from '../../src/inventory/inventory.js';

const limits = { maxVcpus: 2, maxMemoryMiB: 1000, maxLeaseSeconds: 86400, minMemoryMiB: 16, maxNodes: 4 };
const raw = { name: 'web1', type: 'lxc', image: 'tiny', vcpus: '1', memory: '256', lease: '1h' };

void t.test('spec nodes: default 1 and absent, bounded by maxNodes, carried by the token', (t) => {
  const one = validateVeSpec(raw, limits);
  t.equal(one.nodes, undefined, 'single-node specs look as before');
  t.equal(validateVeSpec({ ...raw, nodes: '1' }, limits).nodes, undefined);
  const two = validateVeSpec({ ...raw, nodes: '2' }, limits);
  t.equal(two.nodes, 2);
  t.strictSame(decodeVeSpec(encodeVeSpec(two)), two);
  t.equal(encodeVeSpec(one), encodeVeSpec(decodeVeSpec(encodeVeSpec(one))), 'old tokens unchanged');
  for (const bad of ['0', '5', 'x', '2,3', -1]) t.throws(() => validateVeSpec({ ...raw, nodes: bad }, limits), { code: 'invalid-field', field: 'nodes' }, String(bad));
  const singleOnly = { maxVcpus: 2, maxMemoryMiB: 1000, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
  t.throws(() => validateVeSpec({ ...raw, nodes: '2' }, singleOnly), { code: 'invalid-field', field: 'nodes' }, 'no maxNodes: one node only');
  t.throws(() => validateVeSpec({ ...raw, type: 'kvm', nodes: '2', disks: ['1G'] }, limits), { code: 'invalid-field', field: 'disk' });
  t.end();
});

const request: SubmitRequest = {
  name: 've-web1', queue: 'batch', cpus: 2, memoryMiB: 256, walltimeSeconds: 3600, features: ['lxc'], nodeCount: 2, variables: {}, script: '#!/bin/sh\n',
};

void t.test('SubmitRequest sizes are per node: Slurm one task per node, TORQUE ppn and mem total', (t) => {
  const slurm = buildSlurmSbatchArgs(request);
  for (const a of ['--nodes=2', '--ntasks=2', '--ntasks-per-node=1', '--cpus-per-task=2', '--mem=256M']) t.ok(slurm.includes(a), a);
  const torque = buildTorqueQsubArgs(request);
  t.equal(torque[torque.indexOf('-l') + 1], 'nodes=2:ppn=2:lxc,mem=512mb,walltime=01:00:00');
  const single = buildTorqueQsubArgs({ ...request, nodeCount: 1 });
  t.equal(single[single.indexOf('-l') + 1], 'nodes=1:ppn=2:lxc,mem=256mb,walltime=01:00:00', 'one node: as before');
  const pinned = buildTorqueQsubArgs({ ...request, nodeList: ['n1', 'n2'] });
  t.equal(pinned[pinned.indexOf('-l') + 1], 'nodes=n1:ppn=2:lxc+n2:ppn=2:lxc,mem=512mb,walltime=01:00:00');
  t.end();
});

const spec2: VeSpec = { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 2, memoryMiB: 256, leaseSeconds: 3600, nodes: 2 };

void t.test('the allocation is checked per node: the port states memory per node (TORQUE\'s job total is divided by its adapter)', (t) => {
  const job = { cpus: 4, memoryMiB: 256, walltimeSeconds: 3600, nodeCount: 2, features: ['lxc'] };
  t.doesNotThrow(() => { checkSpecFitsAllocation(spec2, job); });
  t.throws(() => { checkSpecFitsAllocation(spec2, { ...job, memoryMiB: 128 }); }, /memory 256 MiB > 128 MiB allocated per node/);
  t.throws(() => { checkSpecFitsAllocation(spec2, { ...job, cpus: 3 }); }, /vcpus 2 > 1 allocated per node/);
  t.throws(() => { checkSpecFitsAllocation(spec2, { ...job, nodeCount: 1, cpus: 2 }); }, /nodes 2 > 1 allocated/);
  t.equal(buildTorqueJobResources({ nodes: '2:ppn=2:lxc', mem: '512mb' }).memoryMiB, 256, 'TORQUE mem=512mb over two nodes: 256 MiB per node');
  t.end();
});

void t.test('part index: position in the trusted host list, short names, duplicates once', (t) => {
  t.equal(findPartIndex('node1', ['node1', 'node2']), 0);
  t.equal(findPartIndex('node2', ['node1', 'node2']), 1);
  t.equal(findPartIndex('node2', ['node1.cluster', 'node1.cluster', 'node2.cluster']), 1, 'TORQUE exec_host lists a host once per cpu slot');
  t.equal(findPartIndex('NODE2.example.org', ['node1', 'node2']), 1);
  t.throws(() => findPartIndex('node3', ['node1', 'node2']), { code: 'host-not-in-job' });
  t.end();
});

void t.test('domain names: part 0 keeps pbsve-<jobId>, others _p<i>, and parse back unambiguously', (t) => {
  t.equal(buildDomainName('17'), 'pbsve-17');
  t.equal(buildDomainName('17', 0), 'pbsve-17');
  t.equal(buildDomainName('17', 1), 'pbsve-17_p1');
  t.equal(buildDomainName('15.vm', 3), 'pbsve-15.vm_p3');
  t.equal(buildDomainName('15[2].vm', 1), 'pbsve-15_2_.vm_p1');
  t.strictSame(parseDomainPart('pbsve-17_p1'), { jobId: '17', part: 1 });
  t.strictSame(parseDomainPart('pbsve-15.vm-p1'), { jobId: '15.vm-p1', part: 0 }, 'a TORQUE server named vm-p1 stays a job id');
  t.strictSame(parseDomainPart('pbsve-15_2_.vm_p1'), { jobId: '15[2].vm', part: 1 });
  t.strictSame(parseDomainPart('pbsve-15_2_'), { jobId: '15[2]', part: 0 });
  t.equal(parseDomainName('pbsve-17_p12'), '17');
  t.equal(parseDomainName('pbsve-17_p0'), undefined, 'part 0 has no suffix');
  t.throws(() => buildDomainName('17', -1), { code: 'invalid-part' });
  t.throws(() => buildDomainName('17', 1.5), { code: 'invalid-part' });
  t.end();
});

const record = (host: string, part: number | undefined): VeJobRecord => ({
  jobId: '17', spec: spec2, owner: 'user1', host, domain: buildDomainName('17', part ?? 0), uri: 'lxc:///system', roUri: 'lxc:///system?readonly',
  startCount: 1, status: 'realized', reason: 'domain running', emulated: false, ...(part === undefined ? {} : { part, nodes: 2 }),
});

void t.test('records: one directory per part; each host finds its own, old single records still read', (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-parts-'));
  t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
  t.equal(findPartJobDir(stateDir, '17', 0), findJobDir(stateDir, '17'));
  t.equal(findPartJobDir(stateDir, '17', 1), join(stateDir, 'jobs', '17_p1'));
  writeVeJobRecord(stateDir, record('node1', 0));
  writeVeJobRecord(stateDir, record('node2', 1));
  t.equal((JSON.parse(readFileSync(join(stateDir, 'jobs', '17_p1', 've.json'), 'utf8')) as VeJobRecord).host, 'node2');
  t.equal(readHostVeJobRecord(stateDir, '17', 'node1')?.part, 0);
  t.equal(readHostVeJobRecord(stateDir, '17', 'node2')?.part, 1);
  t.equal(readHostVeJobRecord(stateDir, '17', 'node3')?.host, 'node1', 'no part of this host: the first record, whose host the caller checks');
  writeVeJobRecord(stateDir, { ...record('node1', undefined), jobId: '18' });
  t.equal(readHostVeJobRecord(stateDir, '18', 'node1')?.part, undefined, 'a single-node record as before');
  t.equal(readHostVeJobRecord(stateDir, '19', 'node1'), undefined);
  t.end();
});

// The same event as a single-node VE's (no part, no nodes).
function dropPart(e: VeEvent): VeEvent {
  return Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'part' && k !== 'nodes')) as unknown as VeEvent;
}

const event = (part: number, state: VeEvent['state'], seq: number, host = `node${part + 1}`): VeEvent => ({
  version: 1, jobId: '17', seq, state, at: `2026-11-23T10:00:${String(seq % 60).padStart(2, '0')}.000Z`, host, owner: 'user1', name: 'web1', type: 'lxc', image: 'tiny',
  vcpus: 2, memoryMiB: 256, domain: buildDomainName('17', part), source: state === 'destroyed' ? 'epilogue' : 'prologue', reason: state, part, nodes: 2,
});

void t.test('events carry part and nodes together; single-node events are unchanged', (t) => {
  const e = event(1, 'running', 1_000_016);
  t.strictSame(decodeVeEvent(encodeVeEvent(e)), e);
  const single = dropPart(e);
  t.strictSame(decodeVeEvent(encodeVeEvent(single)), single);
  t.notOk('part' in decodeVeEvent(encodeVeEvent(single)));
  for (const bad of [{ ...e, part: 2 }, { ...e, nodes: 1 }, { ...single, part: 0 }, { ...single, nodes: 2 }, { ...e, part: -1 }, { ...e, part: '1' }]) {
    t.throws(() => decodeVeEvent(encodeVeEvent(bad as VeEvent)), { code: 'invalid-event' }, JSON.stringify({ part: bad.part, nodes: bad.nodes }));
  }
  t.end();
});

void t.test('derived VE state: running only when all parts run, failed/lost as soon as one is', (t) => {
  const parts = (...states: VePartRecord['state'][]): Pick<VePartRecord, 'state'>[] => states.map((state) => ({ state }));
  t.equal(deriveVeState(parts(), 2), 'starting');
  t.equal(deriveVeState(parts('running'), 2), 'starting');
  t.equal(deriveVeState(parts('running', 'running'), 2), 'running');
  t.equal(deriveVeState(parts('running', 'failed'), 2), 'failed');
  t.equal(deriveVeState(parts('lost', 'running'), 2), 'lost');
  t.equal(deriveVeState(parts('running', 'stopped'), 2), 'stopped');
  t.equal(deriveVeState(parts('running', 'unknown'), 2), 'unknown');
  t.equal(deriveVeState(parts('destroyed', 'running'), 2), 'stopping');
  t.equal(deriveVeState(parts('destroyed', 'destroyed'), 2), 'destroyed');
  t.equal(deriveVeState(parts('destroyed', 'failed'), 2), 'failed', 'a failed part stays visible after teardown');
  t.end();
});

void t.test('fold of one part: by the part\'s own seq; VE entry unchanged when nothing changed', (t) => {
  const first = foldPartEvent(undefined, { ...event(1, 'running', 1_000_016), part: 1 });
  t.equal(first.part?.state, 'running');
  t.equal(first.history.part, 1);
  t.equal(foldPartEvent(first.part, { ...event(1, 'running', 1_000_016), part: 1 }).part, undefined, 'same seq: stale');
  const ve = foldMultiNodeVe(undefined, { ...event(1, 'running', 1_000_016), nodes: 2 }, first.part === undefined ? [] : [first.part]);
  t.equal(ve?.state, 'starting');
  t.equal(ve?.nodes, 2);
  t.equal(ve?.domain, 'pbsve-17', 'the VE entry names part 0\'s domain');
  t.equal(foldMultiNodeVe(ve, { ...event(1, 'running', 1_000_016), nodes: 2 }, first.part === undefined ? [] : [first.part]), undefined);
  const lost: VeRecord | undefined = ve === undefined ? undefined : { ...ve, state: 'lost', seq: 1_000_017 };
  t.equal(foldMultiNodeVe(lost, { ...event(0, 'running', 1_000_016), nodes: 2 }, []), undefined, 'a later guess of the monitor stands');
  t.end();
});

void t.test('the VE entry of a multi-node VE shows part 0\'s NICs, kept when other parts report theirs', (t) => {
  const nic0 = [{ network: 'default', mac: '52:54:00:00:00:01', ip: '10.213.0.10' }];
  const nic1 = [{ network: 'default', mac: '52:54:00:00:00:02', ip: '10.213.1.10' }];
  const ve = foldMultiNodeVe(undefined, { ...event(0, 'running', 1_000_016), nodes: 2, nics: nic0 }, []);
  t.same(ve?.nics, nic0);
  const later = foldMultiNodeVe(ve, { ...event(1, 'running', 1_000_032), nodes: 2, nics: nic1 }, []);
  t.same(later?.nics, nic0, 'part 1 reporting its address does not replace part 0\'s');
  const moved = { network: 'default', mac: '52:54:00:00:00:01', ip: '10.213.0.11' };
  t.same(foldMultiNodeVe(later, { ...event(0, 'running', 1_000_032), nodes: 2, nics: [moved] }, [])?.nics, [moved], 'a new address of part 0 is written');
  t.end();
});

// The shared in-memory Inventory, with parts: the same CAS and parent rules as LDAP.
function buildMemoryInventory(): FakeInventory {
  return createFakeInventory();
}

void t.test('apply: two parts with the same seq both count; the VE runs when both run and is destroyed when both are', async (t) => {
  const inv = buildMemoryInventory();
  t.equal(await applyEvent(inv, event(1, 'running', 1_000_016)), 'applied');
  t.equal(inv.ves.get('17')?.state, 'starting', 'the parent entry comes first, starting');
  t.equal(await applyEvent(inv, event(0, 'running', 1_000_016)), 'applied');
  t.equal(inv.ves.get('17')?.state, 'running');
  t.equal(inv.ves.get('17')?.host, 'node1');
  t.equal(await applyEvent(inv, event(0, 'running', 1_000_016)), 'duplicate');
  t.equal(await applyEvent(inv, event(0, 'destroyed', 1_000_032)), 'applied');
  t.equal(inv.ves.get('17')?.state, 'stopping');
  t.equal(await applyEvent(inv, event(1, 'destroyed', 1_000_032)), 'applied');
  t.equal(inv.ves.get('17')?.state, 'destroyed');
  t.equal(inv.history.length, 4);
  t.strictSame(inv.history.map((h) => h.part).sort(), [0, 0, 1, 1]);

  // any arrival order gives the same end state
  const reversed = buildMemoryInventory();
  const report = await applyEvents(reversed, [event(1, 'destroyed', 1_000_032), event(0, 'destroyed', 1_000_032), event(1, 'running', 1_000_016), event(0, 'running', 1_000_016)]);
  t.equal(report.applied, 4);
  t.equal(reversed.ves.get('17')?.state, 'destroyed');
});

void t.test('a VE-level guess of the monitor keeps the node count', async (t) => {
  const inv = buildMemoryInventory();
  await applyEvent(inv, event(0, 'running', 1_000_016));
  await applyEvent(inv, event(1, 'running', 1_000_016));
  const guess = dropPart({ ...event(0, 'lost', 1_000_017), source: 'reconcile' });
  t.equal(await applyEvent(inv, guess), 'applied');
  t.equal(inv.ves.get('17')?.state, 'lost');
  t.equal(inv.ves.get('17')?.nodes, 2);
});

void t.test('TORQUE prologue.parallel: the fixture argv (prologue layout) read as a sister', (t) => {
  const text = readFileSync(new URL('../../../test/fixtures/torque/pelog/prologue.15.vm.txt', import.meta.url), 'utf8');
  const argv = [...text.matchAll(/^argv\[([1-9][0-9]*)\]=<(.*)>$/gm)].map((m) => m[2] ?? '');
  const ctx = readTorquePelogContext(argv, { PBS_MSHOST: 'vm' }, 'prologue.parallel', 'runsc');
  t.equal(ctx.sister, true);
  t.equal(ctx.host, 'runsc');
  t.equal(ctx.jobId, '15.vm');
  t.equal(ctx.jobHosts, undefined, 'TORQUE: the part index comes from the server\'s exec_host, not the hook\'s environment');
  t.equal(readTorquePelogContext(argv, {}, 'prologue', 'vm').sister, false);
  t.end();
});

void t.test('Slurm: every allocated node\'s Prolog gets the job\'s host list from slurmd', (t) => {
  const env = { SLURM_JOB_ID: '4', SLURM_JOB_USER: 'u', SLURMD_NODENAME: 'node2', SLURM_JOB_NODELIST: 'node[1-2]', SLURM_SCRIPT_CONTEXT: 'prolog_slurmd' };
  const ctx = readSlurmPelogContext(env, 'prolog');
  t.strictSame(ctx.jobHosts, ['node1', 'node2']);
  t.equal(findPartIndex(ctx.host, ctx.jobHosts ?? []), 1);
  t.end();
});

void t.test('the job body ends on a part of this start that is gone, not on an old start\'s', (t) => {
  const part = (state: VePartRecord['state'], seq: number): VePartRecord => ({ jobId: '17', part: 1, state, host: 'node2', domain: 'pbsve-17_p1', seq, lastChange: '' });
  t.equal(findEndedPart([part('running', 1_000_016)], 1), undefined);
  t.equal(findEndedPart([part('stopped', 1_000_032)], 1)?.part, 1);
  t.equal(findEndedPart([part('destroyed', 1_000_032)], 2), undefined, 'destroyed in the first start, requeued since');
  t.end();
});

void t.test('ve show lists the parts, ve list shows the node count', (t) => {
  const ve = { name: 'web1', state: 'running' as const, host: 'node1', jobId: '17', type: 'lxc' as const, vcpus: 2, memoryMiB: 256, owner: 'user1', image: 'tiny', lastChange: '', nodes: 2 };
  const parts: VePartRecord[] = [{ jobId: '17', part: 0, state: 'running', host: 'node1', domain: 'pbsve-17', seq: 1_000_016, lastChange: '2026-11-23T10:00:00Z' }];
  const text = formatVeDetails({ ve, history: [], job: undefined, parts });
  t.match(text, /nodes: +2/);
  t.match(text, /part 0 +running +node1 +pbsve-17/);
  t.match(text, /part 1 +\(not reported yet\)/);
  t.notMatch(formatVeDetails({ ve: { ...ve, nodes: 1 }, history: [], job: undefined, parts: [] }), /part|nodes:/, 'single-node VEs look as before');
  const table = formatVeTable([ve]).split('\n');
  t.match(table[0] ?? '', /IMAGE +NODES$/);
  t.match(table[1] ?? '', /tiny +2$/);
  t.end();
});

void t.test('the prologue\'s part decision: sisters of single-node specs and hosts past the VE\'s nodes realize nothing', async (t) => {
  const { realizeVe } = await import('../../src/prologue/realize-ve.js');
  const { formatSpecLine } = await import('../../src/core/encode-ve-spec.js');
  const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-realize-'));
  t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
  const job = (hosts: string[], variables: Record<string, string> = {}): BatchJob => ({
    jobId: '17', name: 've-web1', owner: 'user1', state: 'running', rawState: 'R', queue: 'batch', execHosts: hosts, variables, comment: undefined,
    resources: { cpus: 2 * hosts.length, memoryMiB: 256 * hosts.length, walltimeSeconds: 3600, nodeCount: hosts.length, features: ['lxc'] },
    startCount: 1, exitStatus: undefined, submitTime: undefined, startTime: undefined,
  });
  const ctx = (host: string, sister: boolean): PelogContext => ({
    jobId: '17', user: 'user1', group: undefined, jobName: 've-web1', queue: 'batch', host, scriptPath: undefined, exitStatus: undefined, resources: undefined, sister,
  });
  const deps = (j: BatchJob, script: string | undefined): Parameters<typeof realizeVe>[1] => ({
    batch: { getJob: () => Promise.resolve(j) } as unknown as Batch,
    config: { stateDir, imageDir: '/nonexistent' } as unknown as PbsVeConfig,
    clock: { now: () => new Date(), sleep: () => Promise.resolve() },
    events: {} as unknown as EventSink, disks: {} as unknown as VeDisks, openVirt: () => Promise.reject(new Error('no libvirt here')),
    readJobScript: () => (script === undefined ? Promise.reject(new VeError('job-script-unreadable', 'environment', 'no script on a sister')) : Promise.resolve(script)),
    log: () => undefined,
  });
  const single: VeSpec = { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 3600 };
  t.strictSame(await realizeVe(ctx('vm2', true), deps(job(['vm1', 'vm2']), `#!/bin/sh\n${formatSpecLine(single)}\n`)), { kind: 'not-a-ve' }, 'a one-node spec is nothing on a sister');
  const three = job(['vm1', 'vm2', 'vm3'], { VE_SPEC: encodeVeSpec(spec2) });
  t.strictSame(await realizeVe(ctx('vm3', true), deps(three, undefined)), { kind: 'not-a-ve' }, 'a third host of a two-node VE has no part');
  await t.rejects(realizeVe(ctx('vm9', true), deps(three, undefined)), { code: 'host-not-in-job' }, 'a host the batch system does not list');
  await t.rejects(realizeVe(ctx('vm1', false), deps(job(['vm1', 'vm1.cluster']), `#!/bin/sh\n${formatSpecLine(spec2)}\n`)), { code: 'parts-share-host' }, 'two parts packed onto one host');
  await t.rejects(realizeVe(ctx('vm2', true), deps(job(['vm1', 'vm2']), undefined)), { code: 'spec-missing' }, 'a TORQUE sister whose VE_SPEC was replaced');
  await t.rejects(realizeVe(ctx('vm1', false), deps(job(['vm1', 'vm2']), undefined)), { code: 'job-script-unreadable' }, 'the mother superior needs its script');
  // a sister that finds its part goes on to the catalog: here, the missing image is the first thing it meets
  await t.rejects(realizeVe(ctx('vm2', true), deps(job(['vm1', 'vm2'], { VE_SPEC: encodeVeSpec(spec2) }), undefined)), { code: 'image-not-in-catalog' });
});
