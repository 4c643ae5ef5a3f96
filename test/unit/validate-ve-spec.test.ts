import t from 'tap';
import { validateVeSpec, type RawVeSpec } from '../../src/core/validate-ve-spec.js';
import { VeError } from '../../src/core/ve-error.js';
import { parseDurationSeconds, parseMemoryMiB, formatWalltime } from '../../src/core/parse-size.js';

const limits = { maxVcpus: 2, maxMemoryMiB: 1000, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
const good: RawVeSpec = { name: 'web1', type: 'lxc', image: 'tiny', vcpus: '1', memory: '256', lease: '2h' };

void t.test('a good spec becomes typed values', (t) => {
  t.same(validateVeSpec(good, limits), { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 7200 });
  t.end();
});

// Every bad input named in the walking-skeleton issue: the error names the field and the rule.
const bad: [string, Partial<RawVeSpec>, string][] = [
  ['name with <', { name: 'we<b' }, 'name'],
  ["name with '", { name: "we'b" }, 'name'],
  ['name with /', { name: 'a/b' }, 'name'],
  ['name with space', { name: 'a b' }, 'name'],
  ['name over 63 chars', { name: 'a'.repeat(64) }, 'name'],
  ['image not a catalog name (..)', { image: '../etc' }, 'image'],
  ['image with /', { image: 'a/b' }, 'image'],
  ['image with ..', { image: 'a..b' }, 'image'],
  ['vcpus 0', { vcpus: '0' }, 'vcpus'],
  ['vcpus negative', { vcpus: '-1' }, 'vcpus'],
  ['vcpus not a number', { vcpus: 'two' }, 'vcpus'],
  ['vcpus above the largest host', { vcpus: '3' }, 'vcpus'],
  ['memory lots', { memory: 'lots' }, 'memory'],
  ['memory above the largest host', { memory: '2G' }, 'memory'],
  ['lease 0', { lease: '0' }, 'lease'],
  ['lease over the queue limit', { lease: '2d' }, 'lease'],
  ['lease garbage', { lease: 'soon' }, 'lease'],
  ['unknown type', { type: 'xen' }, 'type'],
  ['disk -1', { type: 'kvm', disks: ['-1'] }, 'disk'],
  ['disk 999999T', { type: 'kvm', disks: ['999999T'] }, 'disk'],
  ['disk 0', { type: 'kvm', disks: ['0'] }, 'disk'],
  ['disk garbage', { type: 'kvm', disks: ['10G;rm'] }, 'disk'],
  ['disk not a list', { type: 'kvm', disks: '10G' }, 'disk'],
  ['more disks than allowed', { type: 'kvm', disks: ['1G', '1G', '1G', '1G', '1G'] }, 'disk'],
  ['data disks on an LXC VE', { type: 'lxc', disks: ['1G'] }, 'disk'],
  ['keep-disk without a disk', { type: 'kvm', keepDisks: true }, 'keep-disk'],
];
for (const [what, patch, field] of bad) {
  void t.test(`refused: ${what}`, (t) => {
    const err = t.throws(() => validateVeSpec({ ...good, ...patch }, limits)) as VeError;
    t.ok(err instanceof VeError);
    t.equal(err.kind, 'prereq');
    t.equal(err.field, field);
    t.match(err.message, new RegExp(`^${field}: `));
    t.end();
  });
}

void t.test('data disks become MiB; a spec without them has no disks key at all', (t) => {
  const spec = validateVeSpec({ ...good, type: 'kvm', disks: ['64M', '10G', 512], keepDisks: true }, limits);
  t.same(spec.disks, [64, 10240, 512]);
  t.equal(spec.keepDisks, true);
  t.notOk('disks' in validateVeSpec(good, limits));
  t.notOk('keepDisks' in validateVeSpec({ ...good, keepDisks: false }, limits));
  t.end();
});

void t.test('sizes and durations in the forms users type', (t) => {
  t.equal(parseMemoryMiB('m', '256'), 256);
  t.equal(parseMemoryMiB('m', '2G'), 2048);
  t.equal(parseMemoryMiB('m', '512mb'), 512);
  t.throws(() => parseMemoryMiB('m', '1.5G'));
  t.equal(parseDurationSeconds('l', '90m'), 5400);
  t.equal(parseDurationSeconds('l', '1d12h'), 129600);
  t.equal(parseDurationSeconds('l', '01:30:00'), 5400);
  t.equal(parseDurationSeconds('l', '300'), 300);
  t.throws(() => parseDurationSeconds('l', '2h;rm'));
  t.equal(formatWalltime(7261), '02:01:01');
  t.end();
});
