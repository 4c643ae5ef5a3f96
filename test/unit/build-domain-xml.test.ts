import t, { type Test } from 'tap';
import { Parser } from 'xml2js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { readDomainMetadata } from '../../src/virt/read-domain-metadata.js';
import { DOMAIN_METADATA_NAMESPACE, type DomainSpec, type LxcDomainSpec, type QemuDomainSpec } from '../../src/virt/domain-spec.js';
import { VeError } from '../../src/core/ve-error.js';

interface El {
  readonly $?: Record<string, string>;
  readonly _?: string;
  readonly [child: string]: unknown;
}

// Parse the way a strict consumer would: every child a list, text always under '_', whitespace kept.
function parse(xml: string): El {
  let out: unknown;
  new Parser({ async: false, strict: true, explicitArray: true, explicitCharkey: true, includeWhiteChars: true }).parseString(
    xml,
    (err: Error | null, parsed: unknown) => {
      if (err !== null) throw err;
      out = parsed;
    },
  );
  return (out as { domain: El }).domain;
}

function kids(el: El, name: string): El[] {
  return (el[name] as El[] | undefined) ?? [];
}

function one(el: El, name: string): El {
  const list = kids(el, name);
  if (list.length !== 1 || list[0] === undefined) throw new Error(`expected exactly one <${name}>, got ${list.length}`);
  return list[0];
}

function text(el: El, name: string): string | undefined {
  return one(el, name)._;
}

const lxc: LxcDomainSpec = {
  name: 've-42.node1',
  type: 'lxc',
  vcpus: 1,
  memoryMiB: 64,
  title: 'tiny VE of alice',
  description: 'job 42',
  metadata: { jobId: '42.server', owner: 'alice', veName: 'web1' },
  lxc: { rootfsDir: '/srv/pbs-ve/images/tiny', idMap: { target: 1_073_872_896, count: 65_536 }, init: ['/bin/sh', '/init.sh', '5'] },
};

const qemu: QemuDomainSpec = {
  name: 've-43',
  type: 'qemu',
  vcpus: 2,
  memoryMiB: 96,
  metadata: { jobId: '43', owner: 'bob', veName: 'vm1' },
  qemu: {
    kernel: '/srv/pbs-ve/images/small/vmlinuz',
    initrd: '/srv/pbs-ve/images/small/initramfs.cpio.gz',
    cmdline: 'console=ttyS0 panic=-1',
    disks: [
      { path: '/var/spool/pbs-ve/43/root.qcow2', format: 'qcow2', targetDev: 'vda' },
      { path: '/var/spool/pbs-ve/43/data.img', format: 'raw', targetDev: 'vdb' },
    ],
    serialLogPath: '/var/spool/pbs-ve/43/console.log',
  },
};

// Every validation failure must be this one VeError shape.
function throwsSpecError(t: Test, spec: unknown, field: string): void {
  try {
    buildDomainXml(spec as DomainSpec);
    t.fail(`accepted a bad ${field}`);
  } catch (err) {
    t.ok(err instanceof VeError, `${field}: a VeError`);
    t.match(err, { code: 'invalid-domain-spec', kind: 'prereq', field }, `rejected on ${field}`);
  }
}

void t.test('lxc: the minimal container shape', (t) => {
  const dom = parse(buildDomainXml(lxc));
  t.equal(dom.$?.['type'], 'lxc');
  t.equal(text(dom, 'name'), 've-42.node1');
  t.equal(text(dom, 'title'), 'tiny VE of alice');
  t.equal(text(dom, 'description'), 'job 42');
  t.same(one(dom, 'memory').$, { unit: 'MiB' });
  t.equal(text(dom, 'memory'), '64');
  t.equal(text(dom, 'vcpu'), '1');
  const os = one(dom, 'os');
  t.equal(text(os, 'type'), 'exe');
  t.equal(text(os, 'init'), '/bin/sh');
  t.same(kids(os, 'initarg').map((a) => a._), ['/init.sh', '5']);
  t.ok(one(dom, 'features')['privnet'], 'privnet: no host network');
  const devices = one(dom, 'devices');
  t.equal(text(devices, 'emulator'), '/usr/lib/libvirt/libvirt_lxc');
  const fs = one(devices, 'filesystem');
  t.same(fs.$, { type: 'mount', accessmode: 'passthrough' });
  t.equal(one(fs, 'source').$?.['dir'], '/srv/pbs-ve/images/tiny');
  t.equal(one(fs, 'target').$?.['dir'], '/');
  t.equal(one(devices, 'console').$?.['type'], 'pty');
  t.equal(text(dom, 'on_crash'), 'destroy');
  t.end();
});

void t.test('lxc: a user namespace (the same range for users and groups) and no module, raw I/O or mknod capability', (t) => {
  const dom = parse(buildDomainXml(lxc));
  const idmap = one(dom, 'idmap');
  t.same(one(idmap, 'uid').$, { start: '0', target: '1073872896', count: '65536' });
  t.same(one(idmap, 'gid').$, { start: '0', target: '1073872896', count: '65536' });
  const caps = one(one(dom, 'features'), 'capabilities');
  t.same(caps.$, { policy: 'default' });
  for (const cap of ['sys_module', 'sys_rawio', 'mknod', 'sys_time', 'mac_admin', 'audit_control']) t.same(one(caps, cap).$, { state: 'off' }, `${cap} off`);
  for (const cap of ['chown', 'setuid', 'fsetid', 'sys_admin']) t.equal(caps[cap], undefined, `${cap}: the namespace's own, left to the default`);
  t.end();
});

void t.test('lxc: an id map that is missing, maps to the host root or runs past the id space is refused', (t) => {
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, idMap: undefined } }, 'lxc.idMap');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, idMap: { target: 0, count: 65_536 } } }, 'lxc.idMap.target');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, idMap: { target: 4_294_967_000, count: 65_536 } } }, 'lxc.idMap.target');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, idMap: { target: 100_000, count: 0 } } }, 'lxc.idMap.count');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, idMap: { target: 100_000.5, count: 65_536 } } }, 'lxc.idMap.target');
  t.end();
});

void t.test('lxc without init arguments has no initarg', (t) => {
  const dom = parse(buildDomainXml({ ...lxc, lxc: { ...lxc.lxc, init: ['/sbin/init'] } }));
  t.same(kids(one(dom, 'os'), 'initarg'), []);
  t.end();
});

void t.test('optional title and description are left out when absent', (t) => {
  const bare: LxcDomainSpec = { name: lxc.name, type: 'lxc', vcpus: 1, memoryMiB: 64, metadata: lxc.metadata, lxc: lxc.lxc };
  const dom = parse(buildDomainXml(bare));
  t.equal(dom['title'], undefined);
  t.equal(dom['description'], undefined);
  t.end();
});

void t.test('metadata sits in the pbs-ve namespace and reads back', (t) => {
  const xml = buildDomainXml(lxc);
  const dom = parse(xml);
  const ve = one(one(dom, 'metadata'), 'pbsve:ve');
  t.equal(ve.$?.['xmlns:pbsve'], DOMAIN_METADATA_NAMESPACE);
  t.same(readDomainMetadata(xml), lxc.metadata);
  t.end();
});

void t.test('readDomainMetadata finds the namespace under any prefix and ignores foreign metadata', (t) => {
  const other = `<domain type='lxc'><name>x</name><metadata><a:ve xmlns:a="urn:other"><a:jobId>1</a:jobId></a:ve>
    <q:ve xmlns:q="${DOMAIN_METADATA_NAMESPACE}"><q:jobId>7.srv</q:jobId><q:owner>eve</q:owner><q:veName>n</q:veName></q:ve></metadata></domain>`;
  t.same(readDomainMetadata(other), { jobId: '7.srv', owner: 'eve', veName: 'n' });
  t.equal(readDomainMetadata('<domain type="lxc"><name>x</name></domain>'), undefined);
  t.throws(() => readDomainMetadata('<domain'), { code: 'invalid-domain-xml' });
  t.end();
});

void t.test('qemu: kernel boot, virtio disks, serial file, small TCG footprint', (t) => {
  const dom = parse(buildDomainXml(qemu));
  t.equal(dom.$?.['type'], 'qemu');
  const os = one(dom, 'os');
  t.equal(text(os, 'type'), 'hvm');
  t.same(one(os, 'type').$, { arch: 'x86_64', machine: 'pc' });
  t.equal(text(os, 'kernel'), qemu.qemu.kernel);
  t.equal(text(os, 'initrd'), qemu.qemu.initrd);
  t.equal(text(os, 'cmdline'), 'console=ttyS0 panic=-1');
  t.same(kids(os, 'boot'), []);
  const features = one(dom, 'features');
  t.ok(features['acpi']);
  const tb = one(one(features, 'tcg'), 'tb-cache');
  t.same(tb.$, { unit: 'MiB' });
  t.equal(tb._, '16');
  t.equal(text(one(dom, 'cpu'), 'model'), 'qemu64');
  const devices = one(dom, 'devices');
  t.equal(text(devices, 'emulator'), '/usr/bin/qemu-system-x86_64');
  const disks = kids(devices, 'disk');
  t.equal(disks.length, 2);
  t.same(disks.map((d) => [one(d, 'source').$?.['file'], one(d, 'driver').$?.['type'], one(d, 'target').$]), [
    ['/var/spool/pbs-ve/43/root.qcow2', 'qcow2', { dev: 'vda', bus: 'virtio' }],
    ['/var/spool/pbs-ve/43/data.img', 'raw', { dev: 'vdb', bus: 'virtio' }],
  ]);
  const serial = one(devices, 'serial');
  t.equal(serial.$?.['type'], 'file');
  t.equal(one(serial, 'source').$?.['path'], '/var/spool/pbs-ve/43/console.log');
  t.equal(one(devices, 'memballoon').$?.['model'], 'none');
  t.end();
});

void t.test('kvm: host CPU, no TCG cache; disk boot without a kernel', (t) => {
  const diskBoot = { disks: qemu.qemu.disks, serialLogPath: qemu.qemu.serialLogPath };
  const dom = parse(buildDomainXml({ ...qemu, type: 'kvm', qemu: diskBoot }));
  t.equal(dom.$?.['type'], 'kvm');
  t.equal(one(dom, 'features')['tcg'], undefined);
  t.equal(one(dom, 'cpu').$?.['mode'], 'host-passthrough');
  const os = one(dom, 'os');
  t.equal(os['kernel'], undefined);
  t.equal(one(os, 'boot').$?.['dev'], 'hd');
  t.end();
});

void t.test('hostile strings come out escaped and parse back unchanged', (t) => {
  const nasty = `</description><devices><emulator>/bin/evil</emulator></devices><description>`;
  const values = [
    nasty,
    `a < b && c > d "double" 'single' ]]> <![CDATA[x]]>`,
    'line one\nline two\r\nline three\ttab',
    '&amp; &lt; &#x41; &unknown;',
    '  leading and trailing spaces  ',
    'unicode: ü 漢字 🙂',
  ];
  for (const value of values) {
    const spec: LxcDomainSpec = {
      ...lxc,
      title: value.replace(/[\r\n]/g, ' '),
      description: value,
      metadata: { jobId: value.replace(/[\r\n]/g, ' '), owner: `o${value.replace(/[\r\n]/g, ' ')}`, veName: 'v' },
      lxc: { ...lxc.lxc, rootfsDir: `/srv/im'a"ge<&>`, init: ['/bin/sh', '-c', value] },
    };
    const xml = buildDomainXml(spec);
    t.notOk(xml.includes('<emulator>/bin/evil'), 'no element injection');
    const dom = parse(xml);
    t.equal(kids(dom, 'description').length, 1);
    t.equal(kids(dom, 'devices').length, 1);
    t.equal(text(dom, 'description'), value, `description round-trips: ${JSON.stringify(value)}`);
    t.equal(text(dom, 'title'), spec.title);
    t.same(kids(one(dom, 'os'), 'initarg').map((a) => a._), ['-c', value]);
    t.equal(one(one(one(dom, 'devices'), 'filesystem'), 'source').$?.['dir'], `/srv/im'a"ge<&>`);
    t.same(readDomainMetadata(xml), spec.metadata);
  }
  t.end();
});

void t.test('validation: names', (t) => {
  for (const name of ['', '-x', '.x', 'a b', 'a/b', 'a'.repeat(64), 'ä', "x'", 'x\n', 'x;rm']) throwsSpecError(t, { ...lxc, name }, 'name');
  t.doesNotThrow(() => buildDomainXml({ ...lxc, name: 'a'.repeat(63) }));
  t.doesNotThrow(() => buildDomainXml({ ...lxc, name: '0_a.b-c' }));
  t.end();
});

void t.test('validation: sizes must be positive whole numbers', (t) => {
  for (const vcpus of [0, -1, 1.5, Number.NaN, Infinity, '2', undefined]) throwsSpecError(t, { ...lxc, vcpus }, 'vcpus');
  for (const memoryMiB of [0, -64, 0.5, '64', null]) throwsSpecError(t, { ...lxc, memoryMiB }, 'memoryMiB');
  t.end();
});

void t.test('validation: host paths are absolute, without .. or control characters', (t) => {
  for (const rootfsDir of ['relative/dir', '', '/srv/../etc', '/srv/..', '../x', '/srv/a\nb', '/srv/\u0000']) {
    throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, rootfsDir } }, 'lxc.rootfsDir');
  }
  t.doesNotThrow(() => buildDomainXml({ ...lxc, lxc: { ...lxc.lxc, rootfsDir: '/srv/a..b/.x' } }), "'..' only as a whole segment");
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, kernel: 'vmlinuz' } }, 'qemu.kernel');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, initrd: '/a/../b' } }, 'qemu.initrd');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, serialLogPath: 'console.log' } }, 'qemu.serialLogPath');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, disks: [{ path: '../d', format: 'raw', targetDev: 'vda' }] } }, 'qemu.disks[0].path');
  t.end();
});

void t.test('validation: lxc init and qemu boot pieces', (t) => {
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, init: [] } }, 'lxc.init');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, init: ['sh'] } }, 'lxc.init[0]');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, init: ['/bin/sh', 7] } }, 'lxc.init[1]');
  throwsSpecError(t, { ...lxc, lxc: { ...lxc.lxc, init: ['/bin/sh', 'a\u0001'] } }, 'lxc.init[1]');
  throwsSpecError(t, { ...lxc, lxc: undefined }, 'lxc');
  throwsSpecError(t, { ...qemu, qemu: undefined }, 'qemu');
  const noKernel = { initrd: '/boot/initrd', disks: qemu.qemu.disks, serialLogPath: qemu.qemu.serialLogPath };
  throwsSpecError(t, { ...qemu, qemu: noKernel }, 'qemu.initrd');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, cmdline: 'a\nb' } }, 'qemu.cmdline');
  throwsSpecError(t, { ...qemu, qemu: { serialLogPath: '/x.log', disks: [] } }, 'qemu.disks');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, disks: [{ path: '/d', format: 'vmdk', targetDev: 'vda' }] } }, 'qemu.disks[0].format');
  throwsSpecError(t, { ...qemu, qemu: { ...qemu.qemu, disks: [{ path: '/d', format: 'raw', targetDev: 'vd/a' }] } }, 'qemu.disks[0].targetDev');
  throwsSpecError(
    t,
    { ...qemu, qemu: { ...qemu.qemu, disks: [{ path: '/d', format: 'raw', targetDev: 'vda' }, { path: '/e', format: 'raw', targetDev: 'vda' }] } },
    'qemu.disks[1].targetDev',
  );
  t.end();
});

void t.test('validation: free text XML cannot carry, titles with newlines, unknown types', (t) => {
  throwsSpecError(t, { ...lxc, title: 'two\nlines' }, 'title');
  throwsSpecError(t, { ...lxc, description: 'bell\u0007' }, 'description');
  throwsSpecError(t, { ...lxc, description: 'lone \uD800 surrogate' }, 'description');
  throwsSpecError(t, { ...lxc, description: 'x'.repeat(5000) }, 'description');
  throwsSpecError(t, { ...lxc, metadata: { ...lxc.metadata, jobId: '' } }, 'metadata.jobId');
  throwsSpecError(t, { ...lxc, metadata: { ...lxc.metadata, owner: 'a\nb' } }, 'metadata.owner');
  throwsSpecError(t, { ...lxc, metadata: undefined }, 'metadata');
  throwsSpecError(t, { ...lxc, type: 'xen' }, 'type');
  t.end();
});
