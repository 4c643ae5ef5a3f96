// ve create --count N: the names, every check for all N before the first submission (one listing each for
// all N), the limits for the N together, at most SUBMIT_CONCURRENCY submissions at once, all or nothing,
// and the wait for all N.
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { VeError } from '../../src/core/ve-error.js';
import { MAX_VE_COUNT, expandVeNames, parseVeCount } from '../../src/core/expand-ve-names.js';
import { settleBounded } from '../../src/core/settle-bounded.js';
import { SUBMIT_CONCURRENCY, createVes } from '../../src/qsub-wrappers/create-ves.js';
import { waitForVesRunning } from '../../src/qsub-wrappers/wait-for-ves-running.js';
import { findJobSpec } from '../../src/batch/find-job-spec.js';
import { silentProgress } from '../../src/cli/wait-progress.js';
import { createFakeBatch, type FakeBatch } from '../fakes/fake-batch.js';
import { createFakeInventory, type FakeInventory } from '../fakes/fake-inventory.js';
import type { Clock } from '../../src/core/clock.js';
import type { UserLimits } from '../../src/config/pbs-ve-config.js';
import type { VeRecord } from '../../src/inventory/inventory.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-count-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
mkdirSync(join(dir, 'tiny.rootfs'));
writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny.rootfs', init: ['/bin/sh', '/init.sh'] }));

function makeConfig(limits?: UserLimits) {
  return parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, imageDir: dir, stateDir: '/var/lib/pbs-ve', installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node', ...(limits === undefined ? {} : { limits }) });
}

const raw = { name: 'web', type: 'lxc', image: 'tiny', vcpus: '1', memory: '64', nodes: '1', lease: '1h', disks: [] };

// the fakes, every read counted
function setUp(limits?: UserLimits): { batch: FakeBatch; inventory: FakeInventory; reads: string[]; deps: Parameters<typeof createVes>[2] } {
  const reads: string[] = [];
  const batch = createFakeBatch();
  batch.nodes.set('node1', { name: 'node1', state: 'free', rawState: 'IDLE', cpus: 4, memoryMiB: 4096, features: ['lxc'], jobIds: [], note: undefined });
  const listJobs = batch.listJobs.bind(batch);
  const listNodes = batch.listNodes.bind(batch);
  Object.assign(batch, { listJobs: (f?: Parameters<typeof listJobs>[0]) => { reads.push('listJobs'); return listJobs(f); }, listNodes: () => { reads.push('listNodes'); return listNodes(); } });
  const inventory = createFakeInventory();
  const listVes = inventory.listVes.bind(inventory);
  Object.assign(inventory, { listVes: (q?: Parameters<typeof listVes>[0]) => { reads.push('listVes'); return listVes(q); } });
  return { batch, inventory, reads, deps: { batch, inventory, config: makeConfig(limits), configDir: '/etc/pbs-ve', owner: 'alice', warn: () => undefined } };
}

function liveVe(jobId: string, name: string, fields: Partial<VeRecord> = {}): VeRecord {
  return { jobId, name, owner: 'alice', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running', host: 'node1', domain: `pbsve-${jobId}`, seq: 1, lastChange: '2026-01-01T00:00:00Z', ...fields };
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

void t.test('--count: a whole number from 1 to MAX_VE_COUNT, else invalid-field naming count', (t) => {
  t.equal(parseVeCount('1'), 1);
  t.equal(parseVeCount('16'), 16);
  t.equal(parseVeCount(String(MAX_VE_COUNT)), MAX_VE_COUNT);
  for (const bad of ['0', '-1', '1025', '99999', '1.5', '1e2', '0x10', '+5', '007', '', ' 3', 'three', undefined]) {
    t.throws(() => parseVeCount(bad), { code: 'invalid-field', field: 'count', message: /^count: must be a whole number from 1 to 1024/ }, JSON.stringify(bad));
  }
  t.end();
});

void t.test('names: NAME-1 .. NAME-N by the VE name rule; the longest decides, naming name and --count', (t) => {
  t.same(expandVeNames('web', 3), ['web-1', 'web-2', 'web-3']);
  t.same(expandVeNames('a', 1), ['a-1']);
  t.equal(expandVeNames('w', 1024).at(-1), 'w-1024');
  t.throws(() => expandVeNames('web<1>', 2), { code: 'invalid-field', field: 'name', message: /^name: must be 1-63/ }, 'a bad name is the usual name error');
  t.doesNotThrow(() => expandVeNames('a'.repeat(61), 9), '63 characters fit');
  t.throws(() => expandVeNames('a'.repeat(61), 10), { code: 'invalid-field', field: 'name', message: /with --count 10 the names run to "a{61}-10" \(64 characters\).*shorten the name or lower --count/ });
  t.end();
});

void t.test('bad --count values and options N VEs cannot share are refused before any service is asked', async (t) => {
  const { batch, reads, deps } = setUp();
  t.match(await failureOf(createVes({ ...raw, name: 'a'.repeat(62) }, 10, deps)), { code: 'invalid-field', field: 'name' });
  t.match(await failureOf(createVes({ ...raw, hostname: 'box' }, 2, deps)), { code: 'invalid-field', field: 'hostname', message: /cannot be given with --count/ });
  t.match(await failureOf(createVes({ ...raw, networks: ['lab'], addresses: ['10.0.0.5/24'] }, 2, deps)), { code: 'invalid-field', field: 'network', message: /static address .* cannot be given with --count/ });
  t.match(await failureOf(createVes({ ...raw, memory: 'lots' }, 2, deps)), { code: 'invalid-field', field: 'memory' });
  t.same(reads, [], 'nothing listed');
  t.same(batch.submitted, [], 'nothing submitted');
});

void t.test('N VEs: one node listing, one LDAP listing and one batch listing for all N; specs identical but for the name', async (t) => {
  const { batch, reads, deps } = setUp({ vesPerUser: 20 });
  const created = await createVes(raw, 5, deps);
  t.same(created.map((c) => c.name), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5'], 'in name order');
  t.same(reads.sort(), ['listJobs', 'listNodes', 'listVes'], 'each listing once, limits included');
  t.equal(batch.submitted.length, 5);
  t.same(batch.submitted.map((r) => r.name), ['ve-web-1', 've-web-2', 've-web-3', 've-web-4', 've-web-5']);
  const specs = [...batch.jobs.values()].map((j) => findJobSpec(j));
  t.same(specs.map((s) => ({ ...s, name: '' })), specs.map(() => ({ ...specs[0], name: '' })), 'the same spec but for the name');
  t.same(created.map((c) => c.jobId), batch.submitted.map((_, i) => String(1000 + i)));
});

void t.test('a clash on NAME-3 (live in LDAP or queued) submits nothing and names every clash', async (t) => {
  const { batch, inventory, deps } = setUp();
  inventory.ves.set('77', liveVe('77', 'web-3'));
  inventory.ves.set('78', liveVe('78', 'web-9', { state: 'destroyed' }));
  t.match(await failureOf(createVes(raw, 4, deps)), { code: 'invalid-field', field: 'name', message: /you already have a VE named "web-3" \(job 77\)/ });
  t.same(batch.submitted, [], 'nothing submitted');
  const queued = setUp();
  await createVes({ ...raw, name: 'db' }, 2, queued.deps);
  t.match(await failureOf(createVes({ ...raw, name: 'db' }, 3, queued.deps)), { message: /VEs named "db-1" \(job 1000\), "db-2" \(job 1001\); destroy them/ }, 'queued jobs count, every clash named');
  t.equal(queued.batch.submitted.length, 2, 'nothing more submitted');
  const gone = setUp();
  gone.inventory.ves.set('78', liveVe('78', 'web-2', { state: 'destroyed' }));
  t.equal((await createVes(raw, 2, gone.deps)).length, 2, 'a destroyed VE of the name is history, no clash');
});

void t.test('per-user limits: the N together with what the owner holds', async (t) => {
  const { batch, inventory, deps } = setUp({ vesPerUser: 4, cpusPerUser: 6 });
  inventory.ves.set('50', liveVe('50', 'old'));
  t.match(await failureOf(createVes(raw, 4, deps)), { code: 'user-limit-reached', message: /at most 4 VEs per user .* you hold 4 and this VE needs 1 more/ }, '1 held + 4 > 4');
  t.same(batch.submitted, []);
  t.equal((await createVes(raw, 3, deps)).length, 3, '1 held + 3 fits');
  const cpus = setUp({ cpusPerUser: 5 });
  t.match(await failureOf(createVes({ ...raw, vcpus: '2' }, 3, cpus.deps)), { code: 'user-limit-reached', message: /at most 5 vcpus per user .* you hold 4 and this VE needs 2/ });
  t.same(cpus.batch.submitted, []);
  const pending = setUp({ vesPerUser: 3 });
  await createVes({ ...raw, name: 'p' }, 2, pending.deps);
  // what the batch system reports of a VE job: its node feature (the fake's submit records none)
  for (const [id, j] of pending.batch.jobs) pending.batch.jobs.set(id, { ...j, resources: { ...j.resources, features: ['lxc'] } });
  t.match(await failureOf(createVes(raw, 2, pending.deps)), { code: 'user-limit-reached' }, 'queued jobs without an entry are held VEs too');
});

void t.test('at most SUBMIT_CONCURRENCY submissions at once, all N submitted', async (t) => {
  const { batch, deps } = setUp();
  const submit = batch.submit.bind(batch);
  let inFlight = 0;
  let most = 0;
  Object.assign(batch, { submit: async (r: Parameters<typeof submit>[0]) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    inFlight--;
    return submit(r);
  } });
  t.equal((await createVes(raw, 40, deps)).length, 40);
  t.equal(SUBMIT_CONCURRENCY, 8);
  t.equal(most, SUBMIT_CONCURRENCY, 'never more in flight');
});

void t.test('all or nothing: a failing submission starts no more and cancels every job submitted; stuck cancels are named', async (t) => {
  const { batch, deps } = setUp();
  const submit = batch.submit.bind(batch);
  Object.assign(batch, { submit: async (r: Parameters<typeof submit>[0]) => {
    await new Promise((resolve) => setImmediate(resolve));
    if (r.name === 've-web-10') throw new VeError('batch-submit-failed', 'exec', 'sbatch: error: slurmctld said no');
    return submit(r);
  } });
  t.match(await failureOf(createVes(raw, 30, deps)), { code: 'batch-submit-failed', message: /^sbatch: error: slurmctld said no$/ });
  const submitted = batch.calls.filter((c) => c.startsWith('submit ')).map((c) => c.slice(7));
  t.ok(submitted.length >= 9 && submitted.length < 10 + SUBMIT_CONCURRENCY, `submissions stopped after the failure (${submitted.length})`);
  t.same(batch.calls.filter((c) => c.startsWith('cancel ')).map((c) => c.slice(7)).sort(), [...submitted].sort(), 'every submitted job cancelled');
  const stuck = setUp();
  const stuckSubmit = stuck.batch.submit.bind(stuck.batch);
  Object.assign(stuck.batch, {
    submit: (r: Parameters<typeof stuckSubmit>[0]) => (r.name === 've-web-3' ? Promise.reject(new VeError('batch-submit-failed', 'exec', 'no')) : stuckSubmit(r)),
    cancel: (id: string) => Promise.reject(new VeError('batch-unavailable', 'environment', `cannot cancel ${id}`)),
  });
  t.match(await failureOf(createVes(raw, 3, stuck.deps)), { code: 'batch-submit-failed', message: /^no; jobs already submitted could not be cancelled: 1000 1001 \(cancel them by hand\)$/ });
});

void t.test('settleBounded: results in item order; after a failure no item starts', async (t) => {
  const started: number[] = [];
  const results = await settleBounded([1, 2, 3, 4, 5, 6], 2, async (n) => {
    started.push(n);
    if (n === 2) throw new Error('two');
    await new Promise((resolve) => setImmediate(resolve));
    return n * 10;
  });
  t.same(started, [1, 2], 'nothing after the failure');
  t.same(results.map((r) => r?.status), ['fulfilled', 'rejected', undefined, undefined, undefined, undefined]);
  t.same(await settleBounded([], 8, () => Promise.resolve(1)), []);
});

// a clock whose sleep moves time on at once
function fakeClock(): Clock {
  let now = 0;
  return { now: () => new Date(now), sleep: (ms: number) => { now += ms; return Promise.resolve(); } };
}

void t.test('--wait: two listings a poll until all N run; the timeout names which do not run; one that ended is said', async (t) => {
  const { batch, inventory, reads, deps } = setUp();
  const created = await createVes(raw, 3, deps);
  reads.length = 0;
  let polls = 0;
  const listVes = inventory.listVes.bind(inventory);
  Object.assign(inventory, { listVes: (q?: Parameters<typeof listVes>[0]) => {
    polls++;
    // one more VE running every poll
    for (const [i, c] of created.entries()) if (i < polls) inventory.ves.set(c.jobId, liveVe(c.jobId, c.name));
    return listVes(q);
  } });
  const waitDeps = { batch, inventory, clock: fakeClock(), progress: silentProgress, owner: 'alice', veQueue: 'batch' };
  await waitForVesRunning(created, 60_000, waitDeps);
  t.equal(polls, 3);
  t.same(reads.filter((r) => r === 'listJobs').length, 3, 'one batch listing a poll, not one read per VE');
  const slow = setUp();
  const more = await createVes(raw, 3, slow.deps);
  slow.inventory.ves.set(more[0]?.jobId ?? '', liveVe(more[0]?.jobId ?? '', 'web-1'));
  t.match(await failureOf(waitForVesRunning(more, 5_000, { ...waitDeps, batch: slow.batch, inventory: slow.inventory })),
    { code: 'wait-timeout', message: /^not running after 5 s: web-2, web-3 \(1\/3 running; web-2: pending: PENDING\); the jobs stay submitted/ });
  const ended = setUp();
  const three = await createVes(raw, 3, ended.deps);
  const second = three[1]?.jobId ?? '';
  await ended.batch.cancel(second);
  ended.inventory.ves.set(second, liveVe(second, 'web-2', { state: 'failed' }));
  t.match(await failureOf(waitForVesRunning(three, 5_000, { ...waitDeps, batch: ended.batch, inventory: ended.inventory })),
    { code: 've-not-started', message: /^VE web-2 \(job 1001\): failed \(see ve show 1001\); the other VEs stay submitted$/ });
});
