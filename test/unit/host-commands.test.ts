// ve host list/show/drain/resume over fake ports: the merge of batch nodes, LDAP hosts and VEs.
import { findDrainStoppedJobs, formatDrainNote } from '../../src/operations/stop-host-ves.js';
import t from 'tap';
import { listHosts, showHost, formatHostTable } from '../../src/qsub-wrappers/list-hosts.js';
import { drainHost, listVesToMove, resumeHost } from '../../src/qsub-wrappers/drain-host.js';
import type { Batch, BatchNode } from '../../src/batch/batch.js';
import type { Inventory, VeRecord, VePartRecord } from '../../src/inventory/inventory.js';
import type { HostInventory, HostRecord } from '../../src/inventory/host-inventory.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const node = (name: string, o: Partial<BatchNode> = {}): BatchNode => ({ name, state: 'free', rawState: 'IDLE', cpus: 2, memoryMiB: 4096, features: ['kvm', 'lxc'], jobIds: [], note: undefined, ...o });
const ve = (jobId: string, name: string, owner: string, host: string, o: Partial<VeRecord> = {}): VeRecord => ({ jobId, name, owner, host, type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, state: 'running', domain: `pbsve-${jobId}`, seq: 1, lastChange: '', ...o });

function ports(calls: string[]) {
  const batch: Batch = {
    ...createFakeBatch({}), 
    listNodes: () => Promise.resolve([node('node1'), node('node2', { state: 'offline', rawState: 'IDLE+DRAIN', note: 'pbs-ve health: libvirtd not answering' }), node('mon1', { features: ['vemon'] })]),
    setNodeOffline: (n, note) => { calls.push(`offline ${n} ${note}`); return Promise.resolve(); },
    setNodeOnline: (n) => { calls.push(`online ${n}`); return Promise.resolve(); },
  };
  const parts: VePartRecord[] = [
    { jobId: '14', part: 0, state: 'running', host: 'node1', domain: 'pbsve-14', seq: 1, lastChange: '' },
    { jobId: '14', part: 1, state: 'running', host: 'node2', domain: 'pbsve-14', seq: 1, lastChange: '' },
  ];
  const inventory = {
    listVes: () => Promise.resolve([ve('11', 'web1', 'alice', 'node1'), ve('12', 'db', 'bob', 'node1', { vcpus: 2, memoryMiB: 1024 }), ve('13', 'old', 'alice', 'node1', { state: 'destroyed' }), ve('14', 'pair', 'bob', 'node1', { nodes: 2 })]),
    listParts: () => Promise.resolve(parts),
  } as unknown as Inventory;
  const records: HostRecord[] = [{ name: 'node1', state: 'up', cpus: 2, memoryMiB: 4096, hypervisorTypes: ['lxc', 'kvm'], lastHeartbeat: '2026-12-02T08:00:00.000Z', note: '' }, { name: 'gone1', state: 'unknown', cpus: 0, memoryMiB: 0, hypervisorTypes: [], lastHeartbeat: '', note: '' }];
  const hosts = { listHosts: () => Promise.resolve(records) } as unknown as HostInventory;
  return { batch, inventory, hosts, veQueue: 'batch', veFeatures: ['kvm', 'lxc'] };
}

void t.test('list: VE hosts of the batch system plus hosts only LDAP knows; VE load per host; names of your own VEs only', async (t) => {
  const rows = await listHosts(ports([]), 'alice');
  t.same(rows.map((r) => r.name), ['gone1', 'node1', 'node2'], 'the vemon node is no VE host');
  const n1 = rows.find((r) => r.name === 'node1');
  t.equal(n1?.veCount, 3, 'web1, db and part 0 of pair; the destroyed one does not count');
  t.equal(n1?.veCpus, 4);
  t.equal(n1?.veMemoryMiB, 1536);
  t.same(n1?.ves.map((v) => v.name), ['web1'], 'alice sees her own VE names only');
  t.equal(n1?.inventory?.lastHeartbeat, '2026-12-02T08:00:00.000Z');
  const n2 = rows.find((r) => r.name === 'node2');
  t.equal(n2?.state, 'offline');
  t.equal(n2?.veCount, 1, 'part 1 of pair');
  t.equal(n2?.note, 'pbs-ve health: libvirtd not answering');
  t.equal(rows.find((r) => r.name === 'gone1')?.state, 'absent');
  t.match(formatHostTable(rows), /^HOST\s+STATE\s+FEATURES/);
  const admin = await showHost(ports([]), 'node1', undefined);
  t.same(admin.ves.map((v) => v.name).sort(), ['db', 'pair', 'web1'], 'an admin sees every name');
  await t.rejects(showHost(ports([]), 'node9', undefined), { code: 'host-not-found', message: /hosts: gone1, node1, node2/ });
});

void t.test('drain/resume: through the Batch port, with the VEs left behind (the seam for --migrate)', async (t) => {
  const calls: string[] = [];
  const keep = { kind: 'keep' } as const;
  const r = await drainHost(ports(calls), 'node1', { reason: 'disk swap', by: 'root', ves: keep });
  t.same(calls, ['offline node1 pbs-ve drain: disk swap (by root)']);
  t.same(r.ves.map((v) => v.jobId).sort(), ['11', '12', '14']);
  t.same((await listVesToMove(ports([]), 'node2')).map((v) => v.jobId), ['14']);
  const none = (): Promise<{ done: string[]; skipped: [] }> => Promise.resolve({ done: [], skipped: [] });
  await resumeHost(ports(calls), 'node1', none);
  t.equal(calls[1], 'online node1');
  await t.rejects(drainHost(ports(calls), 'node9', { reason: 'x', by: 'root', ves: keep }), { code: 'host-not-found' });
  await t.rejects(drainHost(ports(calls), 'node1 State=DOWN', { reason: 'x', by: 'root', ves: keep }), { code: 'invalid-field', field: 'host' });
  await t.rejects(drainHost(ports(calls), 'node1', { reason: 'two\nlines', by: 'root', ves: keep }), { code: 'invalid-field', field: 'reason' });
  t.equal(calls.length, 2, 'nothing else was changed');
});

void t.test('drain stops the VEs first and names them in the note; resume starts exactly those', async (t) => {
  const calls: string[] = [];
  const stopped: string[][] = [];
  const stop = (ves: readonly { jobId: string }[]): Promise<{ done: string[]; skipped: { jobId: string; name: string; why: string }[] }> => {
    stopped.push(ves.map((v) => v.jobId).sort());
    calls.push('stop VEs');
    return Promise.resolve({ done: ['11', '12'], skipped: [{ jobId: '14', name: 'pair', why: 'multi-node' }] });
  };
  const r = await drainHost(ports(calls), 'node1', { reason: 'disk swap', by: 'root', ves: { kind: 'stop', stop } });
  t.same(calls, ['stop VEs', 'offline node1 pbs-ve drain: disk swap (by root); stopped: 11,12'], 'stopped while op jobs could still reach the host, then offline');
  t.same(r.stopped, ['11', '12']);
  t.equal(r.skipped[0]?.why, 'multi-node');
  t.same(findDrainStoppedJobs(r.note), ['11', '12']);
  t.same(findDrainStoppedJobs('pbs-ve drain: x (by root); stopped: 11,$(rm),12.vm'), ['11', '12.vm'], 'only job ids are believed');
  t.same(findDrainStoppedJobs(undefined), []);
  t.same(formatDrainNote('n', []), 'n');
});
