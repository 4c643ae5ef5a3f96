import t from 'tap';
import type { Entry } from 'ldapts';
import { formatGeneralizedTime, parseGeneralizedTime } from '../../src/inventory/generalized-time.js';
import { buildVeUpdateChanges, decodeVeEntry, encodeVeAttributes } from '../../src/inventory/ve-entry.js';
import { decodeLiveVeEntry } from '../../src/inventory/live-ve-entry.js';
import { decodeHistoryEntry, encodeHistoryAttributes } from '../../src/inventory/history-entry.js';
import { decodeHostEntry, encodeHostAttributes } from '../../src/inventory/host-entry.js';
import { decodeImageEntry, encodeImageAttributes } from '../../src/inventory/image-entry.js';
import type { HistoryRecord, VeRecord } from '../../src/inventory/inventory.js';
import type { HostRecord } from '../../src/inventory/host-inventory.js';
import type { ImageRecord } from '../../src/inventory/image-catalog-inventory.js';
import type { LdapAttributes } from '../../src/inventory/attribute-change.js';

const ve: VeRecord = {
  jobId: '42.srv', name: 'web1', owner: 'alice', type: 'lxc', image: 'debian12', vcpus: 2, memoryMiB: 512,
  state: 'running', host: 'node1', domain: 'pbsve-42', seq: 3, lastChange: '2024-05-01T12:00:00.123Z',
};

// What ldapts hands back: single values as strings, several as arrays, missing requested ones as [].
function toEntry(dn: string, attributes: LdapAttributes): Entry {
  const entry: Entry = { dn };
  for (const [k, v] of Object.entries(attributes)) entry[k] = v.length === 1 ? (v[0] ?? '') : v;
  return entry;
}

void t.test('GeneralizedTime conversions', (t) => {
  t.equal(formatGeneralizedTime('2024-05-01T12:00:00.123Z'), '20240501120000.123Z');
  t.equal(formatGeneralizedTime('2024-05-01T14:00:00+02:00'), '20240501120000.000Z', 'stored in UTC');
  t.equal(formatGeneralizedTime('2024-05-01T12:00Z'), '20240501120000.000Z');
  for (const bad of ['', 'yesterday', '2024-05-01', '2024-05-01T12:00:00', '2024-13-01T12:00:00Z', 'May 1 2024 12:00 UTC']) {
    t.throws(() => formatGeneralizedTime(bad, 'lastChange'), { code: 'invalid-field', field: 'lastChange' }, bad);
  }
  t.equal(parseGeneralizedTime('20240501120000.123Z'), '2024-05-01T12:00:00.123Z');
  t.equal(parseGeneralizedTime('20240501120000Z'), '2024-05-01T12:00:00.000Z');
  t.equal(parseGeneralizedTime('202405011200Z'), '2024-05-01T12:00:00.000Z');
  t.equal(parseGeneralizedTime('2024050112Z'), '2024-05-01T12:00:00.000Z');
  t.equal(parseGeneralizedTime('20240501140000,5+0200'), '2024-05-01T12:00:00.500Z');
  t.equal(parseGeneralizedTime('20240501100000-02'), '2024-05-01T12:00:00.000Z');
  for (const bad of ['', '2024', '20240501120000', '20240231120000Z', '20241301120000Z', '2024050112.5Z', 'x20240501120000Z']) {
    t.equal(parseGeneralizedTime(bad), undefined, bad);
  }
  t.end();
});

void t.test('VE entry round trip and absent optional fields', (t) => {
  const attributes = encodeVeAttributes(ve);
  t.same(attributes, {
    objectClass: ['pbsveVirtualEnvironment'], pbsveJobId: ['42.srv'], pbsveSeq: ['3'], pbsveName: ['web1'],
    pbsveOwner: ['alice'], pbsveType: ['lxc'], pbsveState: ['running'], pbsveImage: ['debian12'], pbsveVcpus: ['2'],
    pbsveMemoryMiB: ['512'], pbsveHost: ['node1'], pbsveDomain: ['pbsve-42'], pbsveLastChange: ['20240501120000.123Z'],
  });
  t.same(decodeVeEntry(toEntry('pbsveJobId=42.srv', attributes)), ve);
  const bare = encodeVeAttributes({ ...ve, image: '', host: '', domain: '', lastChange: '' });
  t.notOk('pbsveHost' in bare, 'no empty values are sent');
  const decoded = decodeVeEntry({ ...toEntry('x', bare), pbsveHost: [], pbsveVcpus: [] });
  t.same([decoded.host, decoded.image, decoded.lastChange, decoded.vcpus], ['', '', '', 0]);
  const member = encodeVeAttributes({ ...ve, cluster: { name: 'lab', role: 'compute' } });
  t.same([member['pbsveCluster'], member['pbsveRole']], [['lab'], ['compute']], 'a cluster member carries pbsveCluster and pbsveRole');
  t.same(decodeVeEntry(toEntry('pbsveJobId=42.srv', member)).cluster, { name: 'lab', role: 'compute' });
  t.end();
});

void t.test('VE decoding is strict and names the attribute', (t) => {
  const good = toEntry('pbsveJobId=42.srv,ou=ves', encodeVeAttributes(ve));
  const cases: [string, Entry][] = [
    ['pbsveSeq', { ...good, pbsveSeq: 'three' }],
    ['pbsveSeq', { ...good, pbsveSeq: '1e3' }],
    ['pbsveSeq', { ...good, pbsveSeq: '99999999999999999999' }],
    ['pbsveSeq', { ...good, pbsveSeq: [] }],
    ['pbsveName', { ...good, pbsveName: ['a', 'b'] }],
    ['pbsveType', { ...good, pbsveType: 'xen' }],
    ['pbsveState', { ...good, pbsveState: 'Running' }],
    ['pbsveLastChange', { ...good, pbsveLastChange: '2024-05-01' }],
    ['pbsveOwner', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'pbsveOwner')) as Entry],
  ];
  for (const [attribute, entry] of cases) {
    t.throws(() => decodeVeEntry(entry), { code: 'inventory-bad-entry', kind: 'exec', field: attribute }, attribute);
  }
  t.throws(() => decodeVeEntry({ ...good, pbsveSeq: 'x' }), { message: /inventory entry "pbsveJobId=42.srv,ou=ves": pbsveSeq/ });
  // attribute names in any case, values as buffers
  const odd: Entry = { dn: 'x', PBSVEJOBID: Buffer.from('42.srv'), pbsvename: 'web1', PbsveOwner: 'alice', pbsveType: 'lxc',
    pbsveState: 'running', pbsveSeq: '3' };
  t.same(decodeVeEntry(odd).jobId, '42.srv');
  t.end();
});

void t.test('the live-VE decoder reads its five fields with the same strictness as decodeVeEntry', (t) => {
  const good = toEntry('pbsveJobId=42.srv,ou=ves', encodeVeAttributes(ve));
  t.same(decodeLiveVeEntry(good), { jobId: ve.jobId, name: ve.name, state: ve.state, host: ve.host, seq: ve.seq });
  t.same(decodeLiveVeEntry({ ...good, pbsveHost: [] }).host, '', 'no host (not placed yet) is the empty host, as in VeRecord');
  const cases: [string, Entry][] = [
    ['pbsveSeq', { ...good, pbsveSeq: '1e3' }],
    ['pbsveSeq', { ...good, pbsveSeq: [] }],
    ['pbsveName', { ...good, pbsveName: ['a', 'b'] }],
    ['pbsveState', { ...good, pbsveState: 'Running' }],
    ['pbsveHost', { ...good, pbsveHost: ['node1', 'node2'] }],
    ['pbsveJobId', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'pbsveJobId')) as Entry],
  ];
  for (const [attribute, entry] of cases) {
    t.throws(() => decodeLiveVeEntry(entry), { code: 'inventory-bad-entry', kind: 'exec', field: attribute }, attribute);
  }
  // the fields it does not read may be anything: a repair reads the whole entry through decodeVeEntry
  t.same(decodeLiveVeEntry({ ...good, pbsveType: 'xen' }).jobId, ve.jobId);
  const odd: Entry = { dn: 'x', PBSVEJOBID: Buffer.from('42.srv'), pbsvename: 'web1', pbsveState: [Buffer.from('running')], PBSVESEQ: '3' };
  t.same(decodeLiveVeEntry(odd), { jobId: '42.srv', name: 'web1', state: 'running', host: '', seq: 3 }, 'names in any case, values as buffers');
  t.end();
});

void t.test('VE encoding validates before anything is sent', (t) => {
  const bad: [string, Partial<VeRecord>][] = [
    ['jobId', { jobId: '1,ou=x' }], ['name', { name: '' }], ['owner', { owner: 'a\u0000b' }],
    ['type', { type: 'xen' as VeRecord['type'] }], ['state', { state: 'gone' as VeRecord['state'] }],
    ['seq', { seq: -1 }], ['vcpus', { vcpus: 1.5 }], ['memoryMiB', { memoryMiB: Number.NaN }],
    ['host', { host: 'node 1' }], ['lastChange', { lastChange: 'now' }],
  ];
  for (const [field, patch] of bad) {
    t.throws(() => encodeVeAttributes({ ...ve, ...patch }), { code: 'invalid-field', kind: 'prereq' }, field);
  }
  t.end();
});

void t.test('updateVe changes: CAS on seq, replace the rest', (t) => {
  const changes = buildVeUpdateChanges({ ...ve, seq: 4, host: '' }, 3);
  t.same(changes.slice(0, 2), [
    { operation: 'delete', type: 'pbsveSeq', values: ['3'] },
    { operation: 'add', type: 'pbsveSeq', values: ['4'] },
  ]);
  t.same(changes.find((c) => c.type === 'pbsveHost'), { operation: 'replace', type: 'pbsveHost', values: [] }, 'empty removes');
  t.notOk(changes.some((c) => c.type === 'pbsveJobId'), 'the RDN is never modified');
  t.throws(() => buildVeUpdateChanges(ve, -1), { code: 'invalid-field', field: 'expectedSeq' });
  t.end();
});

void t.test('history entries', (t) => {
  const h: HistoryRecord = {
    jobId: '42.srv', seq: 5, state: 'stopped', oldState: 'running', at: '2024-05-01T12:00:00.000Z', host: 'node1',
    source: 'epilogue', reason: 'job ended, "normally"',
  };
  const attributes = encodeHistoryAttributes(h);
  t.same(attributes['objectClass'], ['pbsveStateChange']);
  t.same(decodeHistoryEntry(toEntry('x', attributes)), h);
  const minimal = { ...h, oldState: undefined, host: '', reason: '' };
  t.same(decodeHistoryEntry(toEntry('x', encodeHistoryAttributes(minimal))), minimal);
  t.throws(() => encodeHistoryAttributes({ ...h, source: 'cron' as HistoryRecord['source'] }), { code: 'invalid-field', field: 'source' });
  t.throws(() => decodeHistoryEntry(toEntry('x', { ...attributes, pbsveSource: [] })), { code: 'inventory-bad-entry', field: 'pbsveSource' });
  t.throws(() => decodeHistoryEntry(toEntry('x', { ...attributes, pbsveAt: ['garbage'] })), { code: 'inventory-bad-entry', field: 'pbsveAt' });
  t.end();
});

void t.test('host and image entries', (t) => {
  const host: HostRecord = {
    name: 'node1', state: 'drain', cpus: 8, memoryMiB: 32768, hypervisorTypes: ['kvm', 'lxc'],
    lastHeartbeat: '2024-05-01T12:00:00.000Z', note: 'fan',
  };
  t.same(decodeHostEntry(toEntry('x', encodeHostAttributes(host))), host);
  t.same(encodeHostAttributes({ ...host, hypervisorTypes: ['kvm', 'kvm'] })['pbsveHypervisorType'], ['kvm']);
  t.throws(() => decodeHostEntry(toEntry('x', { ...encodeHostAttributes(host), pbsveHypervisorType: ['kvm', 'xen'] })),
    { code: 'inventory-bad-entry', field: 'pbsveHypervisorType' });
  const image: ImageRecord = {
    name: 'debian 12, "stable"', type: 'kvm', path: '/var/lib/pbs-ve/images/d12.qcow2', format: 'qcow2', os: 'debian12',
    sizeBytes: 2 ** 40, checksum: 'sha256:00ff', description: '',
  };
  t.same(decodeImageEntry(toEntry('x', encodeImageAttributes(image))), image);
  t.throws(() => encodeImageAttributes({ ...image, path: '' }), { code: 'invalid-field', field: 'path' });
  t.end();
});
