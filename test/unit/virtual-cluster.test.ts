// Virtual clusters (issue 13) with fakes: member names and addresses from the manifest, the intent token
// against hostile edits, the cluster event fold, ve cluster up/scale/down, ve-monitor's ensure-running pass.
import t from 'tap';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseClusterManifest, type ClusterManifest } from '../../src/clusters/parse-cluster-manifest.js';
import { planClusterMembers } from '../../src/clusters/plan-cluster-members.js';
import { countRoles } from '../../src/clusters/plan-cluster-addresses.js';
import { decodeClusterIntent, encodeClusterIntent, type ClusterIntent } from '../../src/clusters/cluster-intent.js';
import { foldClusterEvent, type ClusterEvent } from '../../src/clusters/fold-cluster-event.js';
import { bringClusterUp } from '../../src/clusters/bring-cluster-up.js';
import { scaleCluster } from '../../src/clusters/scale-cluster.js';
import { takeClusterDown } from '../../src/clusters/take-cluster-down.js';
import { showClusterStatus } from '../../src/clusters/show-cluster-status.js';
import { ensureClustersRunning } from '../../src/ve-monitor/ensure-clusters-running.js';
import { validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { formatVeTable, type VeRow } from '../../src/qsub-wrappers/list-ves.js';
import { decodeClusterEntry, encodeClusterAttributes } from '../../src/inventory/cluster-entry.js';
import { createFakeBatch, type FakeBatch } from '../fakes/fake-batch.js';
import { createFakeInventory } from '../fakes/fake-inventory.js';
import { createFakeClusterInventory } from '../fakes/fake-cluster-inventory.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { Entry } from 'ldapts';

const LIMITS = { maxVcpus: 64, maxMemoryMiB: 65536, maxLeaseSeconds: 86400 * 7, minMemoryMiB: 16, maxNics: 4 };
const NOW = new Date('2026-12-02T16:00:00.000Z');
const lab = `name: lab
lease: 2h
roles:
  - { role: head, type: lxc, image: tiny, memory: 64M }
  - { role: c, type: lxc, image: tiny, memory: 64M, count: 2, scalable: true }
`;

void t.test('members: stable names, head .10 then the computes, two NICs, every member in /etc/hosts', (t) => {
  const m = parseClusterManifest(lab, 'lab.yaml');
  t.equal(m.subnet, '10.99.0.0/24', 'the default subnet');
  const members = planClusterMembers({ createdAt: NOW.toISOString(), manifest: m, counts: countRoles(m) }, NOW);
  t.same(members.map((x) => [x.name, x.address]), [['lab-head', '10.99.0.10'], ['lab-c1', '10.99.0.11'], ['lab-c2', '10.99.0.12']]);
  const head = members[0];
  t.same(head?.raw.networks, ['default', 'lab'], 'nic0 on the host default network, nic1 on the cluster network');
  t.same(head?.raw.addresses, ['', '10.99.0.10/24'], 'nic0 by DHCP, nic1 static');
  t.equal(head?.raw.lease, '7200', 'a new cluster: the whole lease');
  const spec = validateVeSpec(head?.raw ?? {}, LIMITS);
  t.same(spec.cluster, { name: 'lab', role: 'head' });
  t.equal(spec.hostname, 'lab-head');
  t.same(spec.hosts?.slice(0, 4).map((h) => `${h.name}=${h.address}`), ['lab-head=10.99.0.10', 'lab-c1=10.99.0.11', 'lab-c2=10.99.0.12', 'lab-c3=10.99.0.13'], 'every member, and the computes a scale may add');
  t.equal(spec.hosts?.at(-1)?.name, 'lab-c64', 'up to the role\'s whole block (64)');
  t.same(members.map((x) => x.raw.hosts), members.map(() => spec.hosts), 'one list for every member');
  t.same(decodeVeSpec(encodeVeSpec(spec)), spec, 'the token carries the new fields');
  // scaling the computes never moves anyone: c3 takes the next address of the role's block
  const scaled = planClusterMembers({ createdAt: NOW.toISOString(), manifest: m, counts: { head: 1, c: 3 } }, new Date(NOW.getTime() + 3600_000));
  t.same(scaled.map((x) => [x.name, x.address]), [['lab-head', '10.99.0.10'], ['lab-c1', '10.99.0.11'], ['lab-c2', '10.99.0.12'], ['lab-c3', '10.99.0.13']]);
  t.equal(scaled[3]?.raw.lease, '3600', 'members created later end with the cluster');
  // fixed roles first: in the web example the db keeps .11 while web grows
  const shop = parseClusterManifest(readFileSync(join(import.meta.dirname, '../../../examples/three-tier-web.yaml'), 'utf8'), 'shop');
  const web = planClusterMembers({ createdAt: NOW.toISOString(), manifest: shop, counts: { lb: 1, web: 5, db: 1 } }, NOW);
  t.same(web.map((x) => `${x.name}=${x.address}`), ['shop-lb=10.99.0.10', 'shop-web1=10.99.0.12', 'shop-web2=10.99.0.13', 'shop-web3=10.99.0.14', 'shop-web4=10.99.0.15', 'shop-web5=10.99.0.16', 'shop-db=10.99.0.11']);
  t.throws(() => parseClusterManifest(`${lab.replace('count: 2', 'count: 6')}subnet: 10.99.0.0/28\n`, 'x'), /subnet: 10.99.0.0\/28 has room for 4 members of role "c"/, 'a subnet without room for the members');
  t.throws(() => parseClusterManifest(`${lab}subnet: 10.99.0.1/24\n`, 'x'), /x:\d+: subnet: must be the network address/);
  t.throws(() => parseClusterManifest(`${lab}subnet: "10.99.0.0/24; rm -rf /"\n`, 'x'), /subnet: must be an IPv4 network/);
  t.end();
});

void t.test('hostile spec values: hosts, addresses, hostname, cluster', (t) => {
  const base = { name: 'a', type: 'lxc', image: 'tiny', vcpus: 1, memory: 64, lease: '1h', networks: ['default', 'lab'] };
  t.throws(() => validateVeSpec({ ...base, hosts: [{ name: 'x\n1.2.3.4 evil', address: '10.0.0.1' }] }, LIMITS), { field: 'add-host', message: /name must be a host name/ });
  t.throws(() => validateVeSpec({ ...base, hosts: [{ name: 'x', address: '10.0.0.1 evil' }] }, LIMITS), { field: 'add-host', message: /address must be an IPv4 address/ });
  t.throws(() => validateVeSpec({ ...base, hosts: Array.from({ length: 257 }, (_, i) => ({ name: `h${i}`, address: '10.0.0.1' })) }, LIMITS), /at most 256/);
  t.throws(() => validateVeSpec({ ...base, addresses: ['', '10.0.0.1/33'] }, LIMITS), /static address must be an IPv4 host address/);
  t.throws(() => validateVeSpec({ ...base, addresses: ['', '', '10.0.0.1/24'] }, LIMITS), /addresses for [0-9]+ NICs/);
  t.throws(() => validateVeSpec({ ...base, hostname: 'Evil_Host' }, LIMITS), /hostname/);
  t.throws(() => validateVeSpec({ ...base, cluster: { name: 'x)(objectClass=*', role: 'head' } }, LIMITS), /cluster.name/);
  t.throws(() => validateVeSpec({ ...base, cluster: { name: 'lab', role: '../etc' } }, LIMITS), /cluster.role/);
  t.end();
});

void t.test('the intent token: round trip; edits by the job owner are refused, never trusted', (t) => {
  const manifest = parseClusterManifest(lab, 'lab.yaml');
  const intent: ClusterIntent = { seq: NOW.getTime(), createdAt: NOW.toISOString(), manifest, counts: countRoles(manifest) };
  t.same(decodeClusterIntent(encodeClusterIntent(intent)), intent);
  const forge = (o: unknown): string => `c1.${Buffer.from(JSON.stringify(o)).toString('base64url')}`;
  const file = JSON.parse(Buffer.from(encodeClusterIntent(intent).slice(3), 'base64url').toString()) as { manifest: { name: string; roles: { image: string }[] }; counts: Record<string, number> };
  t.throws(() => decodeClusterIntent(forge({ ...file, counts: { head: 2, c: 2 } })), /role "head" is not scalable/);
  t.throws(() => decodeClusterIntent(forge({ ...file, counts: { head: 1, c: 2, root: 1 } })), /does not declare/);
  t.throws(() => decodeClusterIntent(forge({ ...file, counts: { head: 1, c: 500 } })), /room for/);
  t.throws(() => decodeClusterIntent(forge({ ...file, manifest: { ...file.manifest, name: 'lab,ou=ves' } })), /name: must be/);
  t.throws(() => decodeClusterIntent(forge({ ...file, manifest: { ...file.manifest, roles: [{ ...file.manifest.roles[0], image: '../../etc/shadow' }] } })), /image/);
  t.throws(() => decodeClusterIntent(forge({ ...file, seq: 'x' })), /seq/);
  t.throws(() => decodeClusterIntent(`c1.${'A'.repeat(50000)}`), /not a pbs-ve c1 token/);
  t.throws(() => decodeClusterIntent('c1.!!'), /not a pbs-ve c1 token/);
  t.end();
});

void t.test('cluster events fold by seq: replays and late events change nothing, history stays ordered', (t) => {
  const up: ClusterEvent = { owner: 'alice', name: 'lab', seq: 100, at: NOW.toISOString(), state: 'up', reason: 'up', createdAt: NOW.toISOString(), leaseSeconds: 7200, manifest: '{}', members: [{ name: 'lab-head', role: 'head', address: '10.99.0.10', jobId: '1' }] };
  const first = foldClusterEvent(undefined, up);
  t.equal(first?.state, 'up');
  t.equal(foldClusterEvent(first, up), undefined, 'the same event again: nothing to write');
  const down = foldClusterEvent(first, { owner: 'alice', name: 'lab', seq: 101, at: NOW.toISOString(), state: 'down', reason: 'down' });
  t.equal(down?.state, 'down');
  t.same(down?.members, first?.members, 'an event without members keeps them');
  t.equal(foldClusterEvent(down, { ...up, seq: 99 }), undefined, 'an older event is late: ignored');
  t.same(down?.history.map((h) => h.seq), [100, 101]);
  // the LDAP entry carries the same record
  const attrs = encodeClusterAttributes(down ?? first ?? ({} as never));
  const entry = { dn: 'pbsveClusterId=lab.alice,ou=ves,dc=x', ...attrs } as unknown as Entry;
  const back = decodeClusterEntry(entry);
  t.same({ ...back, manifest: back.manifest }, down);
  t.throws(() => encodeClusterAttributes({ ...(down ?? first ?? ({} as never)), members: [{ name: 'a b', role: 'x', address: '1.2.3.4', jobId: '1' }] }), /members/);
  t.end();
});

// a site of fakes: an image catalog with "tiny" (lxc), two lxc nodes
function buildSite(t: { teardown: (fn: () => void) => void }): { batch: FakeBatch; config: PbsVeConfig; deps: Parameters<typeof bringClusterUp>[1] } {
  const imageDir = makeTempDir('/tmp/pbsve-unit-cluster-');
  t.teardown(() => { rmSync(imageDir, { recursive: true, force: true }); });
  mkdirSync(join(imageDir, 'tiny'));
  writeFileSync(join(imageDir, 'tiny.json'), JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny' }));
  const batch = createFakeBatch();
  for (const n of ['node1', 'node2']) batch.nodes.set(n, { name: n, state: 'free', rawState: 'idle', cpus: 4, memoryMiB: 4096, features: ['lxc'], jobIds: [], note: undefined });
  const config = { imageDir, minMemoryMiB: 16, nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', stateDir: '/var/lib/pbs-ve', batch: { veQueue: 've', maxLeaseSeconds: 86400 } } as unknown as PbsVeConfig;
  return { batch, config, deps: { batch, inventory: createFakeInventory(), config, configDir: '/etc/pbs-ve', owner: 'alice' } };
}

void t.test('ve cluster up: every member checked, then one job each and the held intent; a failure half-way cancels all', async (t) => {
  const { batch, deps } = buildSite(t);
  const manifest: ClusterManifest = parseClusterManifest(lab, 'lab.yaml');
  const up = await bringClusterUp(manifest, deps, NOW);
  t.same(up.members.map((m) => m.name), ['lab-head', 'lab-c1', 'lab-c2']);
  t.equal(batch.submitted.length, 4, 'three members and the intent');
  const intentRequest = batch.submitted[3];
  t.equal(intentRequest?.hold, true, 'the intent job is held: it never runs');
  t.equal(intentRequest?.name, 'vc-lab');
  t.ok(batch.submitted.slice(0, 3).every((r) => r.features.includes('lxc') && r.hold !== true), 'members are ordinary VE jobs');
  t.ok(batch.submitted.slice(0, 3).every((r) => (r.comment ?? '').length <= 1024), 'the listing copies fit Slurm\'s comment');
  await t.rejects(bringClusterUp(manifest, deps, NOW), /already have a cluster named "lab"/, 'the owner has a cluster of that name');

  const other = buildSite(t);
  let n = 0;
  const flaky = { ...other.batch, submit: (r: Parameters<FakeBatch['submit']>[0]) => (++n === 2 ? Promise.reject(new Error('sbatch: error: slurmctld down')) : other.batch.submit(r)) };
  await t.rejects(bringClusterUp(manifest, { ...other.deps, batch: flaky }, NOW), /slurmctld down/);
  t.ok([...other.batch.jobs.values()].every((j) => j.state === 'completed'), 'nothing half-made stays: the submitted members are cancelled');
  const limited = buildSite(t);
  await t.rejects(bringClusterUp(manifest, { ...limited.deps, config: { ...limited.config, limits: { vesPerUser: 2 } } }, NOW), /limit: at most 2 VEs per user/, 'the members together must fit the owner\'s limits');
  t.equal(limited.batch.submitted.length, 0, 'nothing submitted');
  const bad = parseClusterManifest(lab.replace('image: tiny, memory: 64M }', 'image: nothere, memory: 64M }'), 'lab.yaml');
  const third = buildSite(t);
  await t.rejects(bringClusterUp(bad, third.deps, NOW), /nothere/);
  t.equal(third.batch.submitted.length, 0, 'a member failing its checks: nothing submitted at all');
});

void t.test('scale, status, down; ve-monitor recreates a gone member as its owner and records the cluster', async (t) => {
  const { batch, deps, config } = buildSite(t);
  const manifest = parseClusterManifest(lab, 'lab.yaml');
  const up = await bringClusterUp(manifest, deps, NOW);
  const later = new Date(NOW.getTime() + 60_000);
  batch.readJobScript = (id) => Promise.resolve(batch.submitted[Number(id) - 1000]?.script);
  const scaled = await scaleCluster(deps, 'lab', 'c', 3, later);
  t.same(scaled.added.map((m) => [m.name, m.address]), [['lab-c3', '10.99.0.13']]);
  t.equal(batch.jobs.get(up.intentJobId)?.state, 'completed', 'the old intent is cancelled once the new one is in');
  await t.rejects(scaleCluster(deps, 'lab', 'head', 2, later), /not scalable/);
  const down1 = await scaleCluster(deps, 'lab', 'c', 1, later);
  t.same(down1.removed.map((m) => m.name), ['lab-c3', 'lab-c2'], 'highest numbers first');

  const clusters = createFakeClusterInventory();
  const log: string[] = [];
  const monitor = { batch, inventory: deps.inventory, clusters, config, configDir: '/etc/pbs-ve', clock: { now: () => later, sleep: () => Promise.resolve() }, log: (l: string) => { log.push(l); } };
  const head = [...batch.jobs.values()].find((j) => j.name === 've-lab-head');
  await batch.cancel(head?.jobId ?? '');
  const found = await ensureClustersRunning(monitor, [...batch.jobs.values()], { dryRun: false });
  t.same(found.map((f) => f.action), ['recorded', 'recreated'], found.map((f) => f.detail).join('; '));
  const again = batch.submitted.at(-1);
  t.equal(again?.name, 've-lab-head');
  t.equal(again?.submitAs, 'alice', 'resubmitted as the owner');
  t.equal(again?.workdir, '/', 'not in root\'s working directory');
  const entry = clusters.entries.get('lab.alice');
  t.equal(entry?.state, 'up');
  t.match(entry?.history.at(-1)?.reason ?? '', /recreated lab-head/);
  t.same(entry?.members.map((m) => m.name), ['lab-head', 'lab-c1']);
  t.ok(entry?.members.every((m) => m.jobId !== ''), 'every member has its job now');
  t.same((await ensureClustersRunning(monitor, [...batch.jobs.values()], { dryRun: false })).map((f) => f.action), [], 'a second pass: nothing to do');

  const status = await showClusterStatus({ batch, inventory: deps.inventory, clusters, veQueue: 've' }, 'lab', 'alice', later);
  t.equal(status.state, 'up');
  t.same(status.members.map((m) => [m.name, m.clusterAddress]), [['lab-c1', '10.99.0.11'], ['lab-head', '10.99.0.10']]);
  t.equal(status.leaseLeftSeconds, 7140);

  const gone = await takeClusterDown({ batch, veQueue: 've' }, 'lab', 'alice');
  t.equal(gone.memberJobIds.length, 2);
  const after = await ensureClustersRunning(monitor, [...batch.jobs.values()], { dryRun: false });
  t.same(after.map((f) => f.action), ['down'], 'no member recreated once the cluster is down');
  t.equal(clusters.entries.get('lab.alice')?.state, 'down');
  await t.rejects(takeClusterDown({ batch, veQueue: 've' }, 'lab', 'alice'), /no cluster named "lab"/);
});

void t.test('ve list: members grouped under their cluster, after the other VEs', (t) => {
  const row = (name: string, cluster?: string): VeRow => ({ name, state: 'running', host: 'node1', jobId: name.length.toString(), type: 'lxc', vcpus: 1, memoryMiB: 64, owner: 'alice', image: 'tiny', lastChange: '', nodes: 1, ...(cluster === undefined ? {} : { cluster: { name: cluster, role: 'c' } }) });
  const text = formatVeTable([row('lab-c1', 'lab'), row('solo'), row('lab-head', 'lab')]);
  t.match(text, /^NAME +STATE[^\n]*\nsolo [^\n]*\ncluster lab \(alice\):\n {2}lab-c1 [^\n]*\n {2}lab-head /);
  t.end();
});
