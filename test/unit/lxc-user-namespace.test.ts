// LXC user namespaces: one id range per container, taken without collisions and given back; the rootfs
// copy shifted into it (links not followed, hard links once, set-id bits kept, foreign ids refused).
import t from 'tap';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../harness/make-temp-dir.js';
import { buildLxcIdMap, createLxcIdRanges, findLxcIdsDir } from '../../src/host/lxc-id-ranges.js';
import { shiftTreeOwnership } from '../../src/host/shift-tree-ownership.js';
import { createLocalVeDisks } from '../../src/host/ve-disks.js';
import { parseConfig } from '../../src/config/load-config.js';
import { DEFAULT_LXC_IDS } from '../../src/config/pbs-ve-config.js';

const ids = { first: 1_000_000, slots: 4 };

void t.test('ranges: distinct per domain, the same again for the same domain, freed by release, exhausted with a clear error', (t) => {
  const state = makeTempDir('/tmp/pbsve-unit-lxcids-');
  const ranges = createLxcIdRanges(state, ids);
  const a = ranges.allocate('pbsve-1');
  const b = ranges.allocate('pbsve-2');
  const c = ranges.allocate('pbsve-3_p1');
  const targets = [a, b, c].map((m) => m.target);
  t.equal(new Set(targets).size, 3, 'three containers, three ranges');
  for (const m of [a, b, c]) {
    t.equal(m.count, 65_536);
    t.equal((m.target - ids.first) % 65_536, 0, 'slot aligned');
    t.ok(m.target >= ids.first && m.target < ids.first + ids.slots * 65_536, 'inside the configured block');
  }
  t.same(ranges.allocate('pbsve-2'), b, 'a requeued job finds its range again');
  t.equal(statSync(findLxcIdsDir(state)).mode & 0o777, 0o700, 'the slot files are root\'s alone');
  ranges.allocate('pbsve-4');
  t.throws(() => ranges.allocate('pbsve-5'), { code: 'lxc-ids-exhausted', kind: 'environment' });
  ranges.release('pbsve-2');
  ranges.release('pbsve-2');
  ranges.release('pbsve-never');
  t.same(ranges.allocate('pbsve-5'), b, 'the freed range is the only free one');
  t.equal(readdirSync(findLxcIdsDir(state)).length, 4);
  t.end();
});

void t.test('ranges: many allocators at once on one state dir never share a slot', async (t) => {
  const state = makeTempDir('/tmp/pbsve-unit-lxcids-');
  // separate allocator objects, as separate prologue processes would have; the O_EXCL create decides
  const wide = { first: 1_000_000, slots: 64 };
  const got = await Promise.all(Array.from({ length: 64 }, (_, i) => Promise.resolve().then(() => createLxcIdRanges(state, wide).allocate(`pbsve-${i}`))));
  t.equal(new Set(got.map((m) => m.target)).size, 64, '64 domains, 64 slots');
  t.end();
});

void t.test('config: virt.lxcIds defaults, bounds and a clear message', (t) => {
  const base = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } };
  t.same(parseConfig(base).virt.lxcIds, DEFAULT_LXC_IDS);
  t.same(parseConfig({ ...base, virt: { hosts: {}, lxcIds: { first: 200_000, slots: 10 } } }).virt.lxcIds, { first: 200_000, slots: 10 });
  t.throws(() => parseConfig({ ...base, virt: { hosts: {}, lxcIds: { first: 1000 } } }), { code: 'invalid-config', message: /virt\.lxcIds\.first/ });
  t.throws(() => parseConfig({ ...base, virt: { hosts: {}, lxcIds: { first: 4_000_000_000, slots: 10_000 } } }), { code: 'invalid-config', message: /virt\.lxcIds\.slots/ });
  t.same(buildLxcIdMap(DEFAULT_LXC_IDS, 2), { target: 0x4000_0000 + 2 * 65_536, count: 65_536 });
  t.end();
});

void t.test('shift: every file moves into the range, links are not followed, hard links shift once, set-id bits stay', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async (t) => {
  const dir = makeTempDir('/tmp/pbsve-unit-shift-');
  const outside = join(dir, 'outside');
  writeFileSync(outside, 'host file\n');
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'home', 'u'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  writeFileSync(join(root, 'bin', 'su'), 'x');
  chmodSync(join(root, 'bin', 'su'), 0o4755);
  writeFileSync(join(root, 'bin', 'wall'), 'x');
  chownSync(join(root, 'bin', 'wall'), 0, 5);
  chmodSync(join(root, 'bin', 'wall'), 0o2755);
  writeFileSync(join(root, 'home', 'u', 'f'), 'x');
  chownSync(join(root, 'home', 'u'), 1000, 1000);
  chownSync(join(root, 'home', 'u', 'f'), 1000, 1000);
  linkSync(join(root, 'home', 'u', 'f'), join(root, 'home', 'u', 'hard'));
  symlinkSync(outside, join(root, 'escape'));
  symlinkSync(dir, join(root, 'escape-dir'));
  const idMap = { target: 3_000_000, count: 65_536 };
  const n = await shiftTreeOwnership(root, idMap);
  t.equal(n, 10, 'each inode once (the hard link is the same inode)');
  const owner = (p: string): string => { const s = lstatSync(join(root, p)); return `${s.uid}:${s.gid}`; };
  t.equal(owner('.'), '3000000:3000000', 'the rootfs itself: the container\'s root');
  t.equal(owner('bin/su'), '3000000:3000000');
  t.equal(lstatSync(join(root, 'bin', 'su')).mode & 0o7777, 0o4755, 'set-uid kept (to the mapped root)');
  t.equal(owner('bin/wall'), '3000000:3000005');
  t.equal(lstatSync(join(root, 'bin', 'wall')).mode & 0o7777, 0o2755, 'set-gid kept');
  t.equal(lstatSync(join(root, 'tmp')).mode & 0o7777, 0o1777, 'sticky kept');
  t.equal(owner('home/u/f'), '3001000:3001000', 'a user of the image is the same user of the range');
  t.equal(owner('home/u/hard'), '3001000:3001000', 'a hard link is not shifted twice');
  t.equal(owner('escape'), '3000000:3000000', 'the link itself moves');
  t.equal(`${lstatSync(outside).uid}:${lstatSync(outside).gid}`, '0:0', 'what it points to on the host does not');
  t.equal(lstatSync(dir).uid, 0, 'a linked directory is not entered');
});

void t.test('shift: a file owned outside the 65536 mapped ids is the image\'s fault, named', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async (t) => {
  const root = join(makeTempDir('/tmp/pbsve-unit-shift-'), 'rootfs');
  mkdirSync(root);
  writeFileSync(join(root, 'odd'), 'x');
  chownSync(join(root, 'odd'), 70_000, 0);
  await t.rejects(shiftTreeOwnership(root, { target: 3_000_000, count: 65_536 }), { code: 'image-ids-unmapped', kind: 'prereq', message: /odd is owned by 70000:0/ });
  t.ok(existsSync(join(root, 'odd')));
});

void t.test('prepare: the rootfs copy is the range\'s, the image stays root\'s; a job dir the mapped root cannot search is named', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async (t) => {
  const dir = makeTempDir('/tmp/pbsve-unit-prepare-');
  const image = join(dir, 'images', 'tiny');
  mkdirSync(join(image, 'bin'), { recursive: true });
  writeFileSync(join(image, 'bin', 'sh'), 'x');
  const manifest = { name: 'tiny', type: 'lxc' as const, format: 'dir' as const, path: image, init: ['/bin/sh'], kernel: undefined, initrd: undefined, cmdline: undefined, os: undefined };
  const idMap = { target: 3_000_000, count: 65_536 };
  const closed = join(dir, 'jobs', '1');
  mkdirSync(closed, { recursive: true });
  await t.rejects(createLocalVeDisks().prepare(manifest, closed, [], idMap), { code: 'rootfs-unreachable', kind: 'environment', message: new RegExp(`${dir} \\(mode 700\\) is not searchable by others`) });
  chmodSync(dir, 0o711);
  const disk = await createLocalVeDisks().prepare(manifest, closed, [], idMap);
  t.equal(lstatSync(join(disk.rootfsDir ?? '', 'bin', 'sh')).uid, 3_000_000, 'the copy is the mapped root\'s');
  t.equal(lstatSync(join(image, 'bin', 'sh')).uid, 0, 'the catalog image stays root\'s');
});
