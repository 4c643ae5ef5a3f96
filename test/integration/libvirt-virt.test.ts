import t from 'tap';
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLibvirtVirt } from '../../src/virt/libvirt-virt.js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { readDomainMetadata } from '../../src/virt/read-domain-metadata.js';
import { VeError } from '../../src/core/ve-error.js';
import { runCommand } from '../../src/core/run-command.js';
import { startLibvirt, makeLxcImage, type LibvirtInstance, type LxcImage } from '../harness/libvirt.js';
import type { LxcDomainSpec, QemuDomainSpec } from '../../src/virt/domain-spec.js';
import type { Virt } from '../../src/virt/virt.js';
import { buildLxcIdMap } from '../../src/host/lxc-id-ranges.js';
import { shiftTreeOwnership } from '../../src/host/shift-tree-ownership.js';
import { DEFAULT_LXC_IDS } from '../../src/config/pbs-ve-config.js';
import { waitFor } from '../harness/wait-for.js';

const TEST_URI = 'test:///default';

/** root inside an LXC container tries to leave a set-uid root file, make device nodes, load a module */
const ATTACK_SCRIPT = `#!/bin/sh
export PATH=/bin
out=/root/attack.txt
try() { label=$1; shift; if msg=$("$@" 2>&1); then echo "$label: done $msg"; else echo "$label: refused $msg"; fi; }
{
  echo "uid_map: $(cat /proc/self/uid_map)"
  echo "gid_map: $(cat /proc/self/gid_map)"
  echo "id: $(id -u)"
  grep CapBnd /proc/self/status | tr -d '\\t' | sed 's/CapBnd:/CapBnd: /'
  cp /bin/busybox /root/suid && chmod 4755 /root/suid && echo "suid: made"
  try mknod-block mknod /root/sda b 8 0
  try mknod-mem mknod /root/mem c 1 1
  try insmod insmod /root/fake.ko
  if [ -e /etc/shadow ]; then echo "host-files: visible"; else echo "host-files: refused (no /etc/shadow here)"; fi
  echo "attack: done"
} >$out.tmp 2>&1
mv $out.tmp $out
exec sleep 3600
`;

function ms(start: bigint): string {
  return (Number(process.hrtime.bigint() - start) / 1e6).toFixed(1);
}

// Processes whose environment names this container: libvirt_lxc sets LIBVIRT_LXC_NAME for its init.
function findContainerProcesses(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`LIBVIRT_LXC_NAME=${name}`)) pids.push(Number(entry));
    } catch {
      // gone or not ours to read
    }
  }
  return pids;
}

// The container's init execs a moment after libvirt reports "running".
async function waitForContainerProcess(name: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = findContainerProcesses(name);
    if (pids.length > 0 || Date.now() > deadline) return pids;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const qemuSpec = (name: string): QemuDomainSpec => ({
  name,
  type: 'qemu',
  vcpus: 1,
  memoryMiB: 80,
  title: 'a VM',
  description: 'hostile <desc> & "quotes" ]]>\nsecond line',
  metadata: { jobId: '17.server', owner: 'alice', veName: 'vm<1>' },
  qemu: {
    kernel: '/nonexistent/vmlinuz',
    initrd: '/nonexistent/initrd',
    cmdline: 'console=ttyS0',
    disks: [],
    serialLogPath: '/tmp/virt-never-written.log',
  },
});

void t.test('adapter against test:///default', async (t) => {
  const virt = await openLibvirtVirt(TEST_URI);
  t.teardown(() => virt.close());
  t.equal(virt.uri, TEST_URI);

  await t.test('the built-in domain is listed with state and persistence', async (t) => {
    const all = await virt.listDomains();
    t.match(all, [{ name: 'test', state: 'running', persistent: true }]);
    t.same(await virt.getDomain('test'), { name: 'test', state: 'running', persistent: true });
  });

  await t.test('absent domains: undefined, and stop/undefine are no-ops', async (t) => {
    t.equal(await virt.getDomain('no-such-domain'), undefined);
    await virt.destroyDomain('no-such-domain');
    await virt.shutdownDomain('no-such-domain');
    await virt.undefineDomain('no-such-domain');
    await t.rejects(virt.startDomain('no-such-domain'), { code: 'virt-failed', kind: 'exec' });
    await t.rejects(virt.getDomainXml('no-such-domain'), { code: 'virt-failed' });
    t.equal(await virt.waitForState('no-such-domain', (s) => s === undefined, 1000), undefined);
  });

  await t.test('define, start, wait, read XML, destroy twice, undefine twice', async (t) => {
    const name = 'pbsve-t1';
    t.teardown(async () => {
      await virt.destroyDomain(name);
      await virt.undefineDomain(name);
    });
    const spec = qemuSpec(name);
    await virt.defineDomain(buildDomainXml(spec));
    t.match(await virt.getDomain(name), { state: 'shutoff', persistent: true });
    await virt.startDomain(name);
    t.equal(await virt.waitForState(name, (s) => s === 'running', 5000), 'running');
    const xml = await virt.getDomainXml(name);
    t.same(readDomainMetadata(xml), spec.metadata, 'metadata survives libvirt re-serialization');
    t.match(xml, /second line/);
    await t.rejects(virt.startDomain(name), { code: 'virt-failed', kind: 'exec' }, 'already running');
    await virt.destroyDomain(name);
    t.equal(await virt.waitForState(name, (s) => s === 'shutoff', 5000), 'shutoff');
    await virt.destroyDomain(name);
    await virt.shutdownDomain(name);
    await virt.undefineDomain(name);
    t.equal(await virt.getDomain(name), undefined);
    await virt.undefineDomain(name);
  });

  await t.test('libvirt itself rejects a newline title, the builder earlier', async (t) => {
    const xml = buildDomainXml(qemuSpec('pbsve-t2')).replace('<title>a VM</title>', '<title>a\nVM</title>');
    await t.rejects(virt.defineDomain(xml), { code: 'virt-failed', kind: 'exec' });
    t.throws(() => buildDomainXml({ ...qemuSpec('pbsve-t2'), title: 'a\nVM' }), { code: 'invalid-domain-spec' });
  });

  await t.test('bad XML is virt-failed with the libvirt message', async (t) => {
    const err = await virt.defineDomain('<domain').then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof VeError);
    t.match(err, { code: 'virt-failed', kind: 'exec', message: /libvirt define failed: .*domain/ });
  });

  await t.test('waitForState times out with virt-timeout', async (t) => {
    const start = Date.now();
    await t.rejects(virt.waitForState('test', (s) => s === 'shutoff', 300), { code: 'virt-timeout', kind: 'environment' });
    t.ok(Date.now() - start >= 300);
  });

  await t.test('read-only adapter refuses changes before asking libvirt', async (t) => {
    const ro = await openLibvirtVirt(TEST_URI, { readOnly: true });
    t.teardown(() => ro.close());
    t.match(await ro.listDomains(), [{ name: 'test' }]);
    for (const op of [() => ro.defineDomain('<domain/>'), () => ro.startDomain('test'), () => ro.destroyDomain('test'), () => ro.shutdownDomain('test'), () => ro.undefineDomain('test')]) {
      await t.rejects(op(), { code: 'virt-read-only', kind: 'prereq' });
    }
  });

  await t.test('closed adapter says so', async (t) => {
    const other = await openLibvirtVirt(TEST_URI);
    await other.close();
    await other.close();
    await t.rejects(other.listDomains(), { code: 'virt-closed' });
  });
});

void t.test('unreachable daemon is virt-unavailable', async (t) => {
  await t.rejects(openLibvirtVirt('lxc:///system?socket=/tmp/virt-no-such-dir/libvirt-sock'), {
    code: 'virt-unavailable',
    kind: 'environment',
  });
});

const skipReason = process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/sbin/libvirtd') ? 'libvirtd not installed' : undefined;

void t.test('real per-node libvirtd with a busybox LXC container', { skip: skipReason ?? false }, async (t) => {
  let libvirt: LibvirtInstance | undefined;
  let startedAt = process.hrtime.bigint();
  libvirt = await startLibvirt({ nodes: ['node1', 'node2'] });
  t.comment(`libvirtd x2 start: ${ms(startedAt)} ms`);
  t.teardown(async () => {
    await libvirt?.stop();
  });
  const node1 = libvirt.nodes['node1'];
  const node2 = libvirt.nodes['node2'];
  if (node1 === undefined || node2 === undefined) throw new Error('harness returned no node URIs');
  const image: LxcImage = await makeLxcImage(join(libvirt.dir, 'images', 'tiny'));
  // what root inside tries against the host, results in a file the test reads from outside
  writeFileSync(join(image.rootfsDir, 'attack.sh'), ATTACK_SCRIPT, { mode: 0o755 });
  writeFileSync(join(image.rootfsDir, 'root', 'fake.ko'), 'not a module, but init_module asks for the capability first\n');
  // as in the prologue: the copy is owned by the container's range, its ancestors searchable (mkdtemp made 0700)
  const idMap = buildLxcIdMap(DEFAULT_LXC_IDS, DEFAULT_LXC_IDS.slots - 1);
  await shiftTreeOwnership(image.rootfsDir, idMap);
  chmodSync(libvirt.dir, 0o711);

  const open = async (uri: string, readOnly = false): Promise<Virt> => {
    const v = await openLibvirtVirt(uri, { readOnly });
    t.teardown(() => v.close());
    return v;
  };
  const virt1 = await open(node1.lxcUri);
  const virt2 = await open(node2.lxcUri);
  const ro1 = await open(node1.roLxcUri);

  const spec = (name: string): LxcDomainSpec => ({
    name,
    type: 'lxc',
    vcpus: 1,
    memoryMiB: 64,
    title: `VE ${name}`,
    description: 'integration test <&>',
    metadata: { jobId: '99.server', owner: 'alice', veName: name },
    lxc: { rootfsDir: image.rootfsDir, idMap, init: [...image.init, '1'] },
  });

  await t.test('root in the container is nobody to the host: shifted uid_map, no host set-uid root, no modules, no device nodes', async (t) => {
    const name = 'pbsve-ct0';
    const result = join(image.rootfsDir, 'root', 'attack.txt');
    t.teardown(async () => {
      await virt1.destroyDomain(name);
      await virt1.undefineDomain(name);
    });
    await virt1.defineDomain(buildDomainXml({ ...spec(name), lxc: { ...spec(name).lxc, init: ['/bin/sh', '/attack.sh'] } }));
    await virt1.startDomain(name);
    const report = await waitFor('the attack report', 20_000, () => {
      const text = existsSync(result) ? readFileSync(result, 'utf8') : '';
      return text.includes('attack: done') ? text : undefined;
    }, 50);
    t.comment(report.trim());
    const pid = (await waitForContainerProcess(name, 5000))[0];
    t.ok(pid !== undefined, 'the container init is a process');
    t.match(readFileSync(`/proc/${String(pid)}/uid_map`, 'utf8'), new RegExp(`^\\s*0\\s+${idMap.target}\\s+65536\\s*$`), 'seen from the host: the shifted range');
    t.match(report, new RegExp(`uid_map:\\s+0\\s+${idMap.target}\\s+65536`), 'inside: uid_map maps 0 to the range, not to the host root');
    t.match(report, new RegExp(`gid_map:\\s+0\\s+${idMap.target}\\s+65536`));
    t.match(report, /^id: 0$/m, 'the init is root inside');
    t.match(report, /^suid: made$/m, 'root inside may make a set-uid file in its own rootfs');
    const suid = lstatSync(join(image.rootfsDir, 'root', 'suid'));
    t.equal(suid.uid, idMap.target, 'on the host the set-uid file belongs to the mapped id, not to root');
    t.equal(suid.mode & 0o4000, 0o4000, 'set-uid to that id only');
    t.match(report, /^mknod-block: refused .*Operation not permitted/m, 'no block device node (host disk)');
    t.match(report, /^mknod-mem: refused .*Operation not permitted/m, 'no /dev/mem node');
    t.notOk(existsSync(join(image.rootfsDir, 'root', 'sda')), 'nothing was made');
    // a kernel built without modules (this test machine's: no /proc/modules) refuses everyone with ENOSYS
    t.match(report, existsSync('/proc/modules') ? /^insmod: refused .*Operation not permitted/m : /^insmod: refused /m, 'no module loading');
    t.match(report, /^CapBnd: 0*([0-9a-f]+)$/m);
    const bounding = BigInt(`0x${/^CapBnd: ([0-9a-f]+)$/m.exec(report)?.[1] ?? '0'}`);
    for (const [cap, bit] of [['sys_module', 16n], ['sys_rawio', 17n], ['mknod', 27n], ['sys_time', 25n]] as const) {
      t.equal((bounding >> bit) & 1n, 0n, `${cap} is not in the bounding set`);
    }
    t.match(report, /^host-files: refused/m, 'the host\'s /etc/shadow is not reachable (the container sees only its rootfs)');
  });

  await t.test('container runs on node1 only; ro socket watches but cannot destroy', async (t) => {
    const name = 'pbsve-ct1';
    t.teardown(async () => {
      await virt1.destroyDomain(name);
      await virt1.undefineDomain(name);
    });
    let at = process.hrtime.bigint();
    await virt1.defineDomain(buildDomainXml(spec(name)));
    t.comment(`define: ${ms(at)} ms`);
    at = process.hrtime.bigint();
    await virt1.startDomain(name);
    t.comment(`start (create resolved): ${ms(at)} ms`);
    await virt1.waitForState(name, (s) => s === 'running', 10_000);
    t.comment(`start -> first "running" seen: ${ms(at)} ms`);
    t.match(await virt1.getDomain(name), { name, state: 'running', persistent: true });
    const at2 = process.hrtime.bigint();
    t.ok((await waitForContainerProcess(name, 5000)).length > 0, 'the container init is a real process');
    t.comment(`"running" -> init process visible: ${ms(at2)} ms`);

    t.equal(await virt2.getDomain(name), undefined, 'node2 does not see node1\'s domain');
    t.notOk((await virt2.listDomains()).some((d) => d.name === name));

    t.match(await ro1.getDomain(name), { state: 'running' }, 'read-only socket sees the state');
    t.same(readDomainMetadata(await ro1.getDomainXml(name)), spec(name).metadata);
    await t.rejects(ro1.destroyDomain(name), { code: 'virt-failed', message: /read only/ }, 'libvirtd refuses destroy on the ro socket');
    const asNobody = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'virsh', '-q', '-c', node1.roLxcUri, 'domstate', '--', name]);
    t.equal(asNobody.stdout.trim(), 'running', 'an unprivileged user reads the state over the ro socket');
    const nobodyRw = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'virsh', '-q', '-c', node1.lxcUri, 'domstate', '--', name]);
    t.match(nobodyRw.stderr, /Permission denied/, 'but cannot open the rw socket');
    const roGuarded = await open(node1.roLxcUri, true);
    await t.rejects(roGuarded.destroyDomain(name), { code: 'virt-read-only' });
    t.match(await virt1.getDomain(name), { state: 'running' }, 'still running after the refused destroys');

    at = process.hrtime.bigint();
    await virt1.destroyDomain(name);
    t.comment(`destroy: ${ms(at)} ms`);
    t.equal(await virt1.waitForState(name, (s) => s === 'shutoff', 5000), 'shutoff');
    at = process.hrtime.bigint();
    await virt1.undefineDomain(name);
    t.comment(`undefine: ${ms(at)} ms`);
    t.equal(await virt1.getDomain(name), undefined);
    t.same(findContainerProcesses(name), [], 'no container process left');
  });

  await t.test('shutdown ends the container through its TERM trap', async (t) => {
    const name = 'pbsve-ct2';
    t.teardown(async () => {
      await virt1.destroyDomain(name);
      await virt1.undefineDomain(name);
    });
    await virt1.defineDomain(buildDomainXml(spec(name)));
    await virt1.startDomain(name);
    await virt1.waitForState(name, (s) => s === 'running', 10_000);
    const at = process.hrtime.bigint();
    await virt1.shutdownDomain(name);
    t.equal(await virt1.waitForState(name, (s) => s === 'shutoff', 10_000), 'shutoff');
    t.comment(`shutdown -> shutoff: ${ms(at)} ms`);
    await virt1.shutdownDomain(name);
  });

  await t.test('the same name on both nodes is two independent domains', async (t) => {
    const name = 'pbsve-ct3';
    t.teardown(async () => {
      for (const v of [virt1, virt2]) {
        await v.destroyDomain(name);
        await v.undefineDomain(name);
      }
    });
    await virt1.defineDomain(buildDomainXml(spec(name)));
    await virt2.defineDomain(buildDomainXml(spec(name)));
    await virt2.startDomain(name);
    await virt2.waitForState(name, (s) => s === 'running', 10_000);
    t.match(await virt1.getDomain(name), { state: 'shutoff' });
    t.match(await virt2.getDomain(name), { state: 'running' });
  });

  await t.test('the qemu driver accepts the builder\'s VM XML (define only, no kernel here)', async (t) => {
    const name = 'pbsve-vm1';
    const q = await open(node1.qemuUri);
    t.teardown(() => q.undefineDomain(name));
    const at = process.hrtime.bigint();
    await q.defineDomain(buildDomainXml(qemuSpec(name)));
    t.comment(`qemu define (first use probes QEMU capabilities): ${ms(at)} ms`);
    const xml = await q.getDomainXml(name);
    t.match(xml, /<tb-cache unit='KiB'>16384<\/tb-cache>/, 'libvirt 9.0 accepts the TCG cache size');
    t.same(readDomainMetadata(xml), qemuSpec(name).metadata);
    t.notOk((await virt1.listDomains()).some((d) => d.name === name), 'the lxc driver of the same daemon does not list it');
  });

  await t.test('a stopped daemon turns calls into virt-unavailable, and stop leaves nothing running', async (t) => {
    const name = 'pbsve-ct4';
    await virt1.defineDomain(buildDomainXml(spec(name)));
    await virt1.startDomain(name);
    await virt1.waitForState(name, (s) => s === 'running', 10_000);
    startedAt = process.hrtime.bigint();
    const dir = libvirt?.dir ?? '';
    await libvirt?.stop();
    t.comment(`libvirtd x2 stop with one container running: ${ms(startedAt)} ms`);
    libvirt = undefined;
    await t.rejects(virt1.getDomain(name), { code: 'virt-unavailable', kind: 'environment' });
    t.same(findContainerProcesses(name), [], 'stop destroyed the running container');
    t.notOk(existsSync(dir), 'instance dir removed');
  });
});
