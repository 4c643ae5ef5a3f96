import t, { type Test } from 'tap';
import { Client } from 'ldapts';
import { VeError } from '../../src/core/ve-error.js';
import type { HistoryRecord, VeRecord } from '../../src/inventory/inventory.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { createLdapHostInventory } from '../../src/inventory/ldap-host-inventory.js';
import { createLdapImageCatalogInventory } from '../../src/inventory/ldap-image-catalog-inventory.js';
import type { ImageRecord } from '../../src/inventory/image-catalog-inventory.js';
import { startSlapd, stopSlapdByPid, type SlapdInstance } from '../harness/slapd.js';

const slapd = await startSlapd();
t.teardown(() => slapd.stop());

function writerOptions(s: SlapdInstance = slapd) {
  return { url: s.url, baseDn: s.baseDn, bindDn: s.writerDn, password: s.writerPassword, timeoutMs: 3000 };
}

const inventory = createLdapInventory(writerOptions());
t.teardown(() => inventory.close());

function makeVe(jobId: string, overrides: Partial<VeRecord> = {}): VeRecord {
  return {
    jobId, name: 'web1', owner: 'alice', type: 'kvm', image: 'debian12', vcpus: 2, memoryMiB: 1024,
    state: 'starting', host: 'node1', domain: `pbsve-${jobId}`, seq: 1, lastChange: '2024-05-01T12:00:00.123Z',
    ...overrides,
  };
}

function makeHistory(jobId: string, seq: number, overrides: Partial<HistoryRecord> = {}): HistoryRecord {
  return {
    jobId, seq, state: 'running', oldState: 'starting', at: `2024-05-01T12:00:0${String(seq % 10)}.000Z`,
    host: 'node1', source: 'prologue', reason: 'domain running', ...overrides,
  };
}

// Asserts the promise rejects with a VeError and returns it for further checks.
async function rejectsVeError(t: Test, promise: Promise<unknown>): Promise<VeError> {
  try {
    await promise;
  } catch (err) {
    t.ok(err instanceof VeError, `VeError, got ${String(err)}`);
    return err as VeError;
  }
  t.fail('expected a rejection');
  return new VeError('none', 'exec', 'none');
}

void t.test('create, get and list round-trip every field', async (t) => {
  const ve = makeVe('100.srv');
  await inventory.createVe(ve);
  t.same(await inventory.getVe('100.srv'), ve);
  t.equal(await inventory.getVe('999.srv'), undefined);
  const minimal = makeVe('101', { image: '', host: '', domain: '', lastChange: '', vcpus: 0, memoryMiB: 0 });
  await inventory.createVe(minimal);
  t.same(await inventory.getVe('101'), minimal, 'empty optional fields are absent attributes and come back empty');
  const listed = await inventory.listVes();
  t.same(listed.map((v) => v.jobId).filter((id) => id === '100.srv' || id === '101'), ['100.srv', '101']);
  const err = await rejectsVeError(t, inventory.createVe(ve));
  t.equal(err.code, 'inventory-exists');
  t.equal(err.details['resultCode'], 68);
});

void t.test('NICs: one pbsveInterface value each, order kept; an update without NICs keeps them', async (t) => {
  const nics = [{ network: 'default', mac: '52:54:0a:0b:0c:0d', ip: '10.213.4.9' }, { network: 'mine', mac: '52:54:0a:0b:0c:0e' }];
  const ve = makeVe('150.srv', { nics });
  await inventory.createVe(ve);
  t.same(await inventory.getVe('150.srv'), ve);
  const plain: VeRecord = { ...ve };
  delete (plain as { nics?: unknown }).nics;
  t.equal(await inventory.updateVe({ ...plain, seq: 2, state: 'destroyed' }, 1), true);
  t.same((await inventory.getVe('150.srv'))?.nics, nics, 'kept');
  const moved = [{ network: 'default', mac: '52:54:0a:0b:0c:0d', ip: '10.213.4.10' }];
  t.equal(await inventory.updateVe({ ...ve, seq: 3, nics: moved }, 2), true);
  t.same((await inventory.getVe('150.srv'))?.nics, moved, 'replaced, pbsveIp too');
  const client = new Client({ url: slapd.url });
  t.teardown(() => client.unbind());
  const { searchEntries } = await client.search('ou=ves,' + slapd.baseDn, { filter: '(pbsveIp=10.213.4.10)', attributes: ['pbsveJobId', 'pbsveMac'] });
  t.same(searchEntries.map((e) => [e['pbsveJobId'], e['pbsveMac']]), [['150.srv', '52:54:0a:0b:0c:0d']], 'searchable by IP, MAC alongside');
});

void t.test('updateVe is a compare-and-swap on seq', async (t) => {
  const ve = makeVe('200.srv', { seq: 3 });
  await inventory.createVe(ve);
  const next = { ...ve, seq: 4, state: 'running' as const, host: 'node2', lastChange: '2024-05-01T12:01:00.000Z' };
  t.equal(await inventory.updateVe(next, 3), true);
  t.same(await inventory.getVe('200.srv'), next);
  const stale = { ...ve, seq: 5, state: 'stopped' as const };
  t.equal(await inventory.updateVe(stale, 3), false, 'stale expectedSeq refused');
  t.same(await inventory.getVe('200.srv'), next, 'nothing written by the stale update');
  const sameSeq = { ...next, reason: undefined, domain: 'renamed' };
  t.equal(await inventory.updateVe(sameSeq, 4), true, 'seq may stay the same');
  t.equal((await inventory.getVe('200.srv'))?.domain, 'renamed');
  const cleared = { ...next, host: '', image: '' };
  t.equal(await inventory.updateVe(cleared, 4), true);
  t.same(await inventory.getVe('200.srv'), cleared, 'emptied fields are removed');
  const missing = await rejectsVeError(t, inventory.updateVe(makeVe('201.srv'), 0));
  t.equal(missing.code, 'inventory-not-found');
});

void t.test('concurrent CAS: exactly one of two racing writers wins', async (t) => {
  await inventory.createVe(makeVe('210', { seq: 1 }));
  const other = createLdapInventory(writerOptions());
  t.teardown(() => other.close());
  const results = await Promise.all([
    inventory.updateVe(makeVe('210', { seq: 2, state: 'running' }), 1),
    other.updateVe(makeVe('210', { seq: 2, state: 'failed' }), 1),
  ]);
  t.same(results.filter(Boolean).length, 1);
});

void t.test('history is idempotent and listed oldest first', async (t) => {
  await inventory.createVe(makeVe('300.srv'));
  for (const seq of [3, 1, 10, 2]) t.equal(await inventory.addHistory(makeHistory('300.srv', seq)), true);
  t.equal(await inventory.addHistory(makeHistory('300.srv', 2, { state: 'failed' })), false, 'duplicate seq');
  const history = await inventory.listHistory('300.srv');
  t.same(history.map((h) => h.seq), [1, 2, 3, 10], 'numeric order, not string order');
  t.same(history[1], makeHistory('300.srv', 2), 'the first record of a seq wins');
  await inventory.addHistory(makeHistory('300.srv', 11, { oldState: undefined, host: '', reason: '' }));
  t.same((await inventory.listHistory('300.srv')).at(-1), makeHistory('300.srv', 11, { oldState: undefined, host: '', reason: '' }));
  t.same(await inventory.listHistory('301.srv'), [], 'no VE, no history');
  const orphan = await rejectsVeError(t, inventory.addHistory(makeHistory('302.srv', 1)));
  t.equal(orphan.code, 'inventory-not-found', 'history needs its VE entry');
  t.same((await inventory.listVes({ includeFinal: true })).filter((v) => v.jobId === '300.srv').length, 1,
    'history children never show up as VEs');
});

void t.test('listVes honours VeQuery', async (t) => {
  await inventory.createVe(makeVe('400', { name: 'alpha', owner: 'bob', host: 'node7', state: 'running' }));
  await inventory.createVe(makeVe('401', { name: 'beta', owner: 'bob', host: 'node8', state: 'destroyed' }));
  await inventory.createVe(makeVe('402', { name: 'gamma', owner: 'Bob', host: 'node7', state: 'lost' }));
  await inventory.createVe(makeVe('403', { name: 'delta', owner: 'bob', host: 'node7', state: 'failed' }));
  const ids = async (q: Parameters<typeof inventory.listVes>[0]) => (await inventory.listVes(q)).map((v) => v.jobId);
  t.same(await ids({ owner: 'bob' }), ['400'], 'final states hidden by default');
  t.same(await ids({ owner: 'bob', includeFinal: true }), ['400', '401', '403'], 'owner is case-sensitive');
  t.same(await ids({ name: 'ALPHA' }), ['400'], 'VE names (DNS labels) match case-insensitively');
  t.same(await ids({ host: 'node7', includeFinal: true }), ['400', '402', '403']);
  t.same(await ids({ host: 'node7', owner: 'bob', name: 'delta', includeFinal: true }), ['403']);
});

void t.test('listLiveVes: the live VEs of listVes with five fields each, page after page, for the writer and for anonymous readers', async (t) => {
  // more than one page (500 entries) of live VEs, and final ones among them that stay out
  const states = ['running', 'unknown', 'stopped', 'destroyed', 'lost', 'failed'] as const;
  const made = Array.from({ length: 1040 }, (_, i) => makeVe(String(5000 + i), { name: `v${i}`, state: states[i % states.length] ?? 'running', host: i % 7 === 0 ? '' : `node${i % 13}`, seq: 1 + i }));
  for (let i = 0; i < made.length; i += 16) await Promise.all(made.slice(i, i + 16).map((v) => inventory.createVe(v)));
  const lean = (v: VeRecord) => ({ jobId: v.jobId, name: v.name, state: v.state, host: v.host, seq: v.seq });
  const live = await inventory.listLiveVes();
  t.same(live, (await inventory.listVes()).map(lean), 'the same VEs in the same (job id) order as listVes, only the five fields');
  t.same(live.filter((v) => Number(v.jobId) >= 5000 && Number(v.jobId) < 6040), made.filter((v) => ['running', 'unknown', 'stopped'].includes(v.state)).map(lean));
  t.ok(live.some((v) => v.jobId === '400') && !live.some((v) => ['401', '402', '403'].includes(v.jobId)), 'final states left out');
  const anonymous = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn });
  t.teardown(() => anonymous.close());
  t.same(await anonymous.listLiveVes(), live, 'an anonymous reader (ve-monitor reconcile --dry-run) pages within its size limit');
});

void t.test('hostile query strings match nothing and do not throw', async (t) => {
  await inventory.createVe(makeVe('500', { name: 'web1', owner: 'mallory' }));
  const hostile = ['*)(objectClass=*', '*', '\\00', '\u0000', 'web1)(|(pbsveOwner=*', 'web1*', '(', ')', '\\',
    'hôst', '', ' ', 'web1\u0000', '\uD800'];
  for (const value of hostile) {
    for (const key of ['name', 'owner', 'host'] as const) {
      const found = await inventory.listVes({ [key]: value, includeFinal: true });
      t.same(found, [], `${key}=${JSON.stringify(value)}`);
    }
  }
  t.same((await inventory.listVes({ name: 'web1', owner: 'mallory' })).map((v) => v.jobId), ['500']);
});

void t.test('job ids are validated before any DN is built', async (t) => {
  for (const jobId of ['1,ou=hosts', '*', '', '1)(x', 'pbsveJobId=1', '1 ', '../1', '1.srv,dc=x']) {
    const err = await rejectsVeError(t, inventory.getVe(jobId));
    t.equal(err.code, 'invalid-field', JSON.stringify(jobId));
    t.equal(err.kind, 'prereq');
  }
  const bad = await rejectsVeError(t, inventory.createVe(makeVe('1,ou=hosts')));
  t.equal(bad.code, 'invalid-field');
  t.same(await inventory.getVe('12[3].srv-a.example'), undefined, 'array job ids are fine');
  await inventory.createVe(makeVe('12[3].srv-a.example'));
  t.equal((await inventory.getVe('12[3].srv-a.example'))?.jobId, '12[3].srv-a.example');
});

void t.test('odd values survive DN escaping (images and hosts)', async (t) => {
  const catalog = createLdapImageCatalogInventory(writerOptions());
  t.teardown(() => catalog.close());
  const names = ['a,b=c+d"e\\f<g>;h', ' lead', 'trail ', '#hash', 'ünïcödé', 'x,ou=hosts', 'nul\u0001ctl', '=', '\\2c'];
  const image = (name: string): ImageRecord => ({
    name, type: 'lxc', path: `/var/lib/pbs-ve/images/${name}`, format: 'dir', os: '', sizeBytes: 0, checksum: '',
    description: 'odd name',
  });
  for (const name of names) await catalog.putImage(image(name));
  const listed = await catalog.listImages();
  t.same(listed.map((i) => i.name).sort(), [...names].sort(), 'every odd name is one entry under ou=images');
  for (const name of names) t.same(await catalog.getImage(name), image(name), JSON.stringify(name));
  t.same(await catalog.listImages('kvm'), []);
  await catalog.putImage({ ...image('a,b=c+d"e\\f<g>;h'), type: 'kvm', format: 'qcow2', sizeBytes: 12345, checksum: 'sha256:ab' });
  t.same((await catalog.listImages('kvm')).map((i) => [i.name, i.sizeBytes, i.format]), [['a,b=c+d"e\\f<g>;h', 12345, 'qcow2']],
    'put replaces an existing image');
  t.equal(await catalog.removeImage('x,ou=hosts'), true);
  t.equal(await catalog.removeImage('x,ou=hosts'), false);
  t.equal(await catalog.getImage('x,ou=hosts'), undefined);

  const hosts = createLdapHostInventory(writerOptions());
  t.teardown(() => hosts.close());
  const host = {
    name: 'node1.cluster', state: 'up' as const, cpus: 16, memoryMiB: 65536, hypervisorTypes: ['kvm', 'lxc'] as const,
    lastHeartbeat: '2024-05-01T12:00:00.000Z', note: '',
  };
  await hosts.putHost({ ...host, hypervisorTypes: [...host.hypervisorTypes] });
  await hosts.putHost({ ...host, name: 'node0', state: 'drain', hypervisorTypes: ['lxc'], note: 'disk, "bad"', lastHeartbeat: '' });
  t.same(await hosts.getHost('node1.cluster'), host);
  t.same((await hosts.listHosts()).map((h) => [h.name, h.state, h.hypervisorTypes, h.note]),
    [['node0', 'drain', ['lxc'], 'disk, "bad"'], ['node1.cluster', 'up', ['kvm', 'lxc'], '']]);
  await hosts.putHost({ ...host, state: 'down', hypervisorTypes: [] });
  t.same(await hosts.getHost('node1.cluster'), { ...host, state: 'down', hypervisorTypes: [] });
});

void t.test('host reports: stored on the pbsveHost entry, only a later one replaces it, putHost leaves them alone', async (t) => {
  const at = (m: number): string => `2026-11-23T10:0${m}:00.000Z`;
  const orphan = { domain: 'pbsve-77', state: 'running', firstSeen: at(0), outcome: 'kept' as const };
  const report = { kind: 'host-report' as const, version: 1 as const, host: 'node7', at: at(1), orphans: [orphan] };
  const putHostReport = inventory.putHostReport;
  const listHostReports = inventory.listHostReports;
  if (putHostReport === undefined || listHostReports === undefined) throw new Error('the LDAP inventory keeps host reports');
  t.equal(await putHostReport(report), 'applied', 'a host the inventory never saw gets an entry');
  t.equal(await putHostReport(report), 'stale', 'a replay');
  t.equal(await putHostReport({ ...report, at: at(0), orphans: [] }), 'stale', 'an older report arriving late');
  t.same(await listHostReports(), [report]);
  const hosts = createLdapHostInventory(writerOptions());
  t.teardown(() => hosts.close());
  t.equal((await hosts.getHost('node7'))?.state, 'unknown', 'created with the state nobody vouched for');
  await hosts.putHost({ name: 'node7', state: 'up', cpus: 2, memoryMiB: 1024, hypervisorTypes: ['lxc'], lastHeartbeat: '', note: '' });
  t.same(await listHostReports(), [report], 'putHost replaces its own attributes only');
  const second = { ...orphan, domain: 'pbsve-78', outcome: 'destroyed' as const };
  t.equal(await putHostReport({ ...report, at: at(2), orphans: [orphan, second] }), 'applied');
  const concurrent = await Promise.all([3, 4, 5].map((m) => putHostReport({ ...report, at: at(m), orphans: m === 5 ? [] : [second] })));
  t.comment(`concurrent puts: ${concurrent.join(', ')}`);
  t.same(await listHostReports(), [{ ...report, at: at(5), orphans: [] }], 'concurrent puts: the latest wins, no orphan left');
  const anonymous = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn });
  t.teardown(() => anonymous.close());
  t.equal((await anonymous.listHostReports?.())?.length, 1, 'anyone may read');
  const denied = await rejectsVeError(t, anonymous.putHostReport?.({ ...report, at: at(9) }) ?? Promise.resolve());
  t.equal(denied.code, 'inventory-denied');
});

void t.test('only the ve-monitor account may write', async (t) => {
  const anonymous = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn });
  t.teardown(() => anonymous.close());
  await inventory.createVe(makeVe('600'));
  t.equal((await anonymous.getVe('600'))?.jobId, '600', 'anonymous may read');
  const create = await rejectsVeError(t, anonymous.createVe(makeVe('601')));
  t.equal(create.code, 'inventory-denied');
  t.equal(create.kind, 'environment');
  const update = await rejectsVeError(t, anonymous.updateVe(makeVe('600', { seq: 2 }), 1));
  t.equal(update.code, 'inventory-denied');
  t.equal((await inventory.getVe('600'))?.seq, 1, 'nothing written');

  const wrong = createLdapInventory({ ...writerOptions(), password: 'not-the-password' });
  t.teardown(() => wrong.close());
  const auth = await rejectsVeError(t, wrong.getVe('600'));
  t.equal(auth.code, 'inventory-auth');
  t.equal(auth.kind, 'environment');
  t.equal(auth.details['resultCode'], 49);

  // a bound non-writer (the root DN's subtree ACLs do not apply to it, so use a made-up user entry)
  const root = new Client({ url: slapd.url });
  t.teardown(() => root.unbind());
  await root.bind(slapd.rootDn, slapd.rootPassword);
  await root.add(`cn=reader,ou=services,${slapd.baseDn}`, {
    objectClass: ['applicationProcess', 'simpleSecurityObject'], cn: 'reader', userPassword: 'reader-pw',
  });
  const reader = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn, bindDn: `cn=reader,ou=services,${slapd.baseDn}`,
    password: 'reader-pw' });
  t.teardown(() => reader.close());
  t.equal((await reader.getVe('600'))?.jobId, '600');
  const denied = await rejectsVeError(t, reader.addHistory(makeHistory('600', 1)));
  t.equal(denied.code, 'inventory-denied');
  t.equal(denied.details['resultCode'], 50);
});

void t.test('entries the schema or the decoder reject', async (t) => {
  const root = new Client({ url: slapd.url });
  t.teardown(() => root.unbind());
  await root.bind(slapd.rootDn, slapd.rootPassword);
  // a host state on a VE passes the constraint overlay but is no VeState
  await root.add(`pbsveJobId=700,ou=ves,${slapd.baseDn}`, {
    objectClass: 'pbsveVirtualEnvironment', pbsveJobId: '700', pbsveName: 'x', pbsveOwner: 'y', pbsveType: 'lxc',
    pbsveState: 'drain', pbsveSeq: '1',
  });
  const bad = await rejectsVeError(t, inventory.getVe('700'));
  t.equal(bad.code, 'inventory-bad-entry');
  t.equal(bad.field, 'pbsveState');
  t.match(bad.message, /pbsveJobId=700.*pbsveState.*"drain"/);
  const listing = await rejectsVeError(t, inventory.listVes());
  t.equal(listing.code, 'inventory-bad-entry', 'one bad entry fails a listing loudly');
  const live = await rejectsVeError(t, inventory.listLiveVes());
  t.equal(live.field, 'pbsveState', 'the live listing too');
  await root.del(`pbsveJobId=700,ou=ves,${slapd.baseDn}`);

  let rejected: unknown;
  try {
    await root.add(`pbsveJobId=701,ou=ves,${slapd.baseDn}`, {
      objectClass: 'pbsveVirtualEnvironment', pbsveJobId: '701', pbsveName: 'x', pbsveOwner: 'y', pbsveType: 'xen',
      pbsveState: 'running', pbsveSeq: '1',
    });
  } catch (err) {
    rejected = err;
  }
  t.match(rejected, { code: 19 }, 'constraint overlay refuses type xen');
  const { translateLdapError } = await import('../../src/inventory/translate-ldap-error.js');
  const translated = translateLdapError(rejected, 'add');
  t.equal(translated.code, 'inventory-rejected');
  t.equal(translated.kind, 'exec');
});

void t.test('a dead directory fails fast with kind environment', async (t) => {
  const own = await startSlapd();
  t.teardown(() => own.stop());
  const inv = createLdapInventory(writerOptions(own));
  t.teardown(() => inv.close());
  await inv.createVe(makeVe('800'));
  await stopSlapdByPid(own.pid);
  for (const attempt of ['first call after the kill', 'reconnect refused']) {
    const started = Date.now();
    const err = await rejectsVeError(t, inv.updateVe(makeVe('800', { seq: 2 }), 1));
    const elapsed = Date.now() - started;
    t.equal(err.code, 'inventory-unavailable', attempt);
    t.equal(err.kind, 'environment');
    t.ok(elapsed < 1000, `${attempt} took ${elapsed} ms`);
  }
  const restarted = await startSlapd({ dir: own.dir, port: own.port });
  t.teardown(() => restarted.stop());
  t.equal((await inv.getVe('800'))?.seq, 1, 'the same client reconnects and rebinds after a restart');
  t.equal(await inv.updateVe(makeVe('800', { seq: 2 }), 1), true);
});

void t.test('slapd killed mid-stream: the writer stops with an environment error, no hang', async (t) => {
  const own = await startSlapd();
  t.teardown(() => own.stop());
  const inv = createLdapInventory(writerOptions(own));
  t.teardown(() => inv.close());
  await inv.createVe(makeVe('900', { seq: 0 }));
  let written = 0;
  const stream = (async (): Promise<unknown> => {
    for (let seq = 1; seq < 100_000; seq++) {
      try {
        await inv.updateVe(makeVe('900', { seq }), seq - 1);
        await inv.addHistory(makeHistory('900', seq));
        written = seq;
      } catch (err) {
        return err;
      }
    }
    return undefined;
  })();
  const reads = Array.from({ length: 50 }, () => inv.listHistory('900').then(() => 'ok', (err: unknown) => err));
  await new Promise((resolve) => setTimeout(resolve, 150));
  const killedAt = Date.now();
  await stopSlapdByPid(own.pid);
  const err = await stream;
  const lag = Date.now() - killedAt;
  t.ok(written > 0, `${written} update+history pairs written before the kill`);
  t.ok(err instanceof VeError && err.kind === 'environment' && err.code === 'inventory-unavailable', String(err));
  t.ok(lag < 1000, `stream stopped ${lag} ms after the kill`);
  const outcomes = await Promise.all(reads);
  t.ok(outcomes.every((o) => o === 'ok' || (o instanceof VeError && o.kind === 'environment')), 'concurrent reads settle');
});

void t.test('nothing listening: unavailable, not a hang', async (t) => {
  const inv = createLdapInventory({ url: 'ldap://127.0.0.1:9', baseDn: slapd.baseDn, timeoutMs: 500 });
  t.teardown(() => inv.close());
  const err = await rejectsVeError(t, inv.listVes());
  t.equal(err.code, 'inventory-unavailable');
  t.equal(err.details['errno'], 'ECONNREFUSED');
});

void t.test('an anonymous reader runs concurrent reads on a fresh connection (ldapts hung on two racing opens)', async (t) => {
  const reader = createLdapInventory({ url: slapd.url, baseDn: slapd.baseDn, timeoutMs: 5000 });
  t.teardown(() => reader.close());
  const started = Date.now();
  const [ves, reports] = await Promise.all([reader.listVes({ includeFinal: true }), reader.listHostReports?.() ?? Promise.resolve([]), reader.listVes({ includeFinal: false })]);
  t.ok(Array.isArray(ves) && Array.isArray(reports), `three reads answered in ${Date.now() - started} ms`);
});
