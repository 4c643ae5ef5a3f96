// Cluster networks (issue 13), the pure parts: overlay config, VNI and names, static addresses, XML, and
// the host commands a VXLAN network runs (through a fake ip/virsh).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VeError } from '../../src/core/ve-error.js';
import { validateNicAddresses, validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { INTERFACE_NAME_PATTERN, parseNetworkConfig, type NetworkConfig } from '../../src/config/network-config.js';
import { buildVxlanDeviceName, deriveMulticastGroup, deriveVni, planVeNetworks, type HostNetworkPlan } from '../../src/prologue/plan-ve-networks.js';
import { buildNetworkXml } from '../../src/virt/build-network-xml.js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { createVeNetworks } from '../../src/host/ve-networks.js';
import { parseNetworkOptions } from '../../src/qsub-wrappers/parse-network-options.js';
import { planSandboxUnderlay } from '../../src/sandbox/sandbox-underlay.js';
import type { VeSpec } from '../../src/core/ve-spec.js';
import type { LxcDomainSpec, QemuDomainSpec } from '../../src/virt/domain-spec.js';
import type { VirshOutcome } from '../../src/virt/run-virsh.js';

const overlay = { kind: 'vxlan', vniBase: 10_000, vniCount: 1000, port: 4789 };
const hosts = {
  default: { prefix: 'pve' },
  node1: { underlay: { address: '10.251.0.1', netns: 'pbsve-u-node1' } },
  node2: { underlay: { address: '10.251.0.2', netns: 'pbsve-u-node2' } },
  node3: { underlay: { address: '10.251.0.3', device: 'eth1' } },
};
const config = (): NetworkConfig => parseNetworkConfig({ hosts, networks: { lab: {} }, overlay });

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof VeError) return err.message;
    throw err;
  }
  return '(no error)';
}

void t.test('overlay config: defaults, and every bad value named by its field', (t) => {
  const c = config();
  t.same(c.overlay, { kind: 'vxlan', vniBase: 10_000, vniCount: 1000, port: 4789, mode: 'unicast', mtu: 1450 }, 'unicast and MTU 1450 by default');
  t.same(c.hosts['node1']?.underlay, { address: '10.251.0.1', netns: 'pbsve-u-node1' });
  t.notOk('overlay' in parseNetworkConfig({}), 'no overlay section: private networks stay host-local');
  const cases: [unknown, RegExp][] = [
    [{ overlay: { ...overlay, kind: 'geneve' } }, /config network\.overlay\.kind: must be "vxlan"/],
    [{ overlay: { ...overlay, vniBase: 0 } }, /network\.overlay\.vniBase: must be a whole number from 1 to 16777215/],
    [{ overlay: { ...overlay, vniBase: 16_777_000, vniCount: 1000 } }, /network\.overlay\.vniCount: must be a whole number from 1 to 216/],
    [{ overlay: { ...overlay, vniCount: 1.5 } }, /network\.overlay\.vniCount/],
    [{ overlay: { ...overlay, port: 70000 } }, /network\.overlay\.port: must be a whole number from 1 to 65535/],
    [{ overlay: { ...overlay, mode: 'broadcast' } }, /network\.overlay\.mode: must be "unicast"/],
    [{ overlay: { ...overlay, group: '239.1.0.0/16' } }, /network\.overlay\.group: is for mode "multicast" only/],
    [{ overlay: { ...overlay, mode: 'multicast' } }, /network\.overlay\.group: must be an IPv4 multicast range/],
    [{ overlay: { ...overlay, mode: 'multicast', group: '10.0.0.0/8' } }, /network\.overlay\.group: must be an IPv4 multicast range/],
    [{ overlay: { ...overlay, mode: 'multicast', group: '224.0.0.0/24' } }, /network\.overlay\.group/],
    [{ overlay: { ...overlay, mtu: 100 } }, /network\.overlay\.mtu: must be a whole number from 576 to 9000/],
    [{ hosts: { node1: { underlay: { address: '10.0.0.300' } } } }, /network\.hosts\.node1\.underlay\.address: must be an IPv4 address/],
    [{ hosts: { node1: { underlay: { address: '10.0.0.1; reboot' } } } }, /network\.hosts\.node1\.underlay\.address/],
    [{ hosts: { node1: { underlay: { address: '10.0.0.1', netns: '../x' } } } }, /network\.hosts\.node1\.underlay\.netns: must be a network namespace name/],
    [{ hosts: { node1: { underlay: { address: '10.0.0.1', device: 'eth 1' } } } }, /network\.hosts\.node1\.underlay\.device: must be a network interface name/],
    [{ hosts: { default: { underlay: { address: '10.0.0.1' } } } }, /network\.hosts\.default\.underlay: must be set per host/],
    [{ hosts: { a: { underlay: { address: '10.0.0.1' } }, b: { underlay: { address: '10.0.0.1' } } } }, /network\.hosts\.[ab]\.underlay\.address: must differ from every other host's/],
    [{ hosts: { a: { underlay: { address: '10.0.0.1' } } }, overlay: { ...overlay, mode: 'multicast', group: '239.1.0.0/16' } }, /network\.hosts\.a\.underlay\.device: is needed with network\.overlay\.mode "multicast"/],
  ];
  for (const [section, expected] of cases) t.match(messageOf(() => parseNetworkConfig(section)), expected, JSON.stringify(section).slice(0, 90));
  t.end();
});

void t.test('VNI: derived from (owner, network) into the range, deterministic, owners apart', (t) => {
  const range = { vniBase: 10_000, vniCount: 1000 };
  t.equal(deriveVni(range, 'alice', 'clu'), deriveVni(range, 'alice', 'clu'), 'the same on every host');
  t.not(deriveVni(range, 'alice', 'clu'), deriveVni(range, 'bob', 'clu'), 'another owner, another VNI');
  t.not(deriveVni(range, 'alice', 'clu'), deriveVni(range, 'alice', 'clv'), 'another network, another VNI');
  // "a-b"+"c" and "a"+"b-c": the separator keeps them apart
  t.not(deriveVni({ vniBase: 1, vniCount: 16_777_215 }, 'a-b', 'c'), deriveVni({ vniBase: 1, vniCount: 16_777_215 }, 'a', 'b-c'));
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i += 1) {
    const v = deriveVni(range, `user${i}`, 'net');
    if (v < 10_000 || v >= 11_000) t.fail(`VNI ${v} outside the range`);
    seen.add(v);
  }
  t.ok(seen.size > 950, `5000 owners spread over the range (${seen.size} of 1000 VNIs used)`);
  t.equal(deriveVni({ vniBase: 16_777_215, vniCount: 1 }, 'x', 'y'), 16_777_215, 'the last VNI');
  t.equal(deriveMulticastGroup({ vniBase: 10_000, group: '239.1.0.0/16' }, 10_005), '239.1.0.5', 'one group per VNI where the range allows');
  t.equal(deriveMulticastGroup({ vniBase: 10_000, group: '239.1.0.0/30' }, 10_005), '239.1.0.1', 'spread over a small range');
  t.end();
});

void t.test('names: VXLAN devices and the sandbox underlay fit Linux\'s 15 characters', (t) => {
  const d = buildVxlanDeviceName('s1a2b3', 'node1', 'pbsve-clu.pbsve-user1');
  t.ok(d.length <= 15 && INTERFACE_NAME_PATTERN.test(d), d);
  t.match(d, /^s1a2b3x[0-9a-f]{8}$/);
  t.not(d, buildVxlanDeviceName('s1a2b3', 'node2', 'pbsve-clu.pbsve-user1'), 'per host (the sandbox\'s hosts share one namespace)');
  t.not(d, buildVxlanDeviceName('s1a2b3', 'node1', 'pbsve-clu.pbsve-user2'), 'per network');
  const u = planSandboxUnderlay('s1a2b3', ['node1', 'node2']);
  for (const name of [u.fabric, ...Object.values(u.hosts).map((h) => h.fabricPort)]) t.ok(name.length <= 15 && INTERFACE_NAME_PATTERN.test(name), name);
  t.same(Object.values(u.hosts).map((h) => h.address), ['10.251.0.1', '10.251.0.2'], 'one underlay address per host');
  t.equal(u.hosts['node1']?.netns, 'pbsve-s1a2b3-node1');
  t.end();
});

const spec = (over: Partial<VeSpec> = {}): VeSpec => ({ version: 1, name: 'c1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600, ...over });
const plan = (host: string, over: Partial<VeSpec> = {}, owner = 'alice', submit = false): readonly HostNetworkPlan[] =>
  planVeNetworks({ spec: spec({ networks: ['default', 'clu'], ...over }), jobId: '7', owner, ownerGroups: [], host, config: config(), ...(submit ? { submit } : {}) }).networks;

void t.test('plan: a private network gets a tunnel to every other configured host; default and declared ones none', (t) => {
  const [def, clu] = plan('node1');
  t.equal(def?.overlay, undefined, 'the default network stays host-local');
  t.equal(clu?.overlay?.vni, deriveVni(overlay, 'alice', 'clu'));
  t.same(clu?.overlay?.peers, ['10.251.0.2', '10.251.0.3'], 'unicast: every other host with an underlay, never itself');
  t.equal(clu?.overlay?.local, '10.251.0.1');
  t.equal(clu?.overlay?.netns, 'pbsve-u-node1');
  t.equal(clu?.overlay?.mtu, 1450);
  t.equal(plan('node3')[1]?.overlay?.underlayDevice, 'eth1');
  t.equal(plan('node2')[1]?.overlay?.vni, clu?.overlay?.vni, 'the same VNI on the other host');
  t.not(plan('node1', {}, 'bob')[1]?.overlay?.vni, clu?.overlay?.vni, 'another owner: another VNI');
  t.equal(plan('node1', { networks: ['lab'] })[0]?.overlay, undefined, 'a declared network: no tunnel');
  t.equal(plan('submit', {}, 'alice', true)[1]?.overlay, undefined, 'the submit host only checks');
  t.throws(() => plan('node9'), { code: 'overlay-no-underlay', kind: 'environment' }, 'a VE host without underlay is a host fault, not a silently local network');
  const multicast = parseNetworkConfig({ hosts: { a: { underlay: { address: '10.0.0.1', device: 'eth1' } } }, overlay: { ...overlay, mode: 'multicast', group: '239.1.0.0/16' } });
  const m = planVeNetworks({ spec: spec({ networks: ['clu'] }), jobId: '7', owner: 'alice', ownerGroups: [], host: 'a', config: multicast }).networks[0]?.overlay;
  t.same(m?.peers, [], 'multicast: no unicast peers');
  t.match(m?.group ?? '', /^239\.1\.\d+\.\d+$/, 'a group of the range');
  t.end();
});

void t.test('static addresses: per NIC, only on private networks, validated like every field', (t) => {
  const raw = { name: 'c1', type: 'lxc', image: 'tiny', vcpus: '1', memory: '64', lease: '1h' };
  const limits = { maxVcpus: 8, maxMemoryMiB: 4096, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
  const s = validateVeSpec({ ...raw, networks: ['default', 'clu'], addresses: ['', '10.99.0.11/24'] }, limits);
  t.same(s.addresses, ['', '10.99.0.11/24']);
  t.same(decodeVeSpec(encodeVeSpec(s)), s, 'carried by the spec token');
  t.notOk('addresses' in validateVeSpec({ ...raw, networks: ['clu'], addresses: [''] }, limits), 'no address anywhere: no key');
  t.notMatch(Buffer.from(encodeVeSpec(spec()).slice(3), 'base64url').toString(), /addresses/, 'tokens without addresses stay as before');
  const bad: [unknown, readonly string[], RegExp][] = [
    [['10.99.0.11/24'], ['default'], /the default network gives addresses by DHCP/],
    [['10.99.0.11/24'], [], /the default network gives addresses by DHCP/],
    [['', '', '10.0.0.1/24'], ['a', 'b'], /3 addresses for 2 NICs/],
    [['10.99.0.0/24'], ['clu'], /network or broadcast address/],
    [['10.99.0.255/24'], ['clu'], /network or broadcast address/],
    [['10.99.0.1/31'], ['clu'], /LEN 8 to 30/],
    [['10.99.0.1'], ['clu'], /A\.B\.C\.D\/LEN/],
    [['256.1.1.1/24'], ['clu'], /A\.B\.C\.D\/LEN/],
    [["10.0.0.1/24'/><ip"], ['clu'], /A\.B\.C\.D\/LEN/],
    [[7], ['clu'], /A\.B\.C\.D\/LEN/],
    ['10.0.0.1/24', ['clu'], /must be a list/],
  ];
  for (const [value, networks, expected] of bad) {
    t.throws(() => validateNicAddresses(value, networks), { code: 'invalid-field', field: 'network' });
    t.match(messageOf(() => validateNicAddresses(value, networks)), expected, JSON.stringify(value));
  }
  t.throws(() => plan('node1', { networks: ['default', 'lab'], addresses: ['', '10.99.0.11/24'] }), { code: 'invalid-field', field: 'network' }, 'not on a declared network (it has DHCP)');
  const planned = planVeNetworks({ spec: spec({ networks: ['default', 'clu'], addresses: ['', '10.99.0.11/24'] }), jobId: '7', owner: 'alice', ownerGroups: [], host: 'node1', config: config() });
  t.same(planned.interfaces.map((i) => i.address), [undefined, '10.99.0.11/24'], 'the address travels with its NIC');
  t.same(planned.interfaces.map((i) => i.mtu), [undefined, 1450], 'and the overlay\'s MTU');
  t.same(parseNetworkOptions(['default', 'clu=10.99.0.11/24']), { networks: ['default', 'clu'], addresses: ['', '10.99.0.11/24'] });
  t.same(parseNetworkOptions(['default', 'clu']), { networks: ['default', 'clu'] }, 'no address, no list');
  t.end();
});

void t.test('XML: LXC NICs carry <ip address prefix>; QEMU NICs none; the overlay network has an MTU and no host address', (t) => {
  const lxc: LxcDomainSpec = {
    name: 'pbsve-7', type: 'lxc', vcpus: 1, memoryMiB: 64, metadata: { jobId: '7', owner: 'alice', veName: 'c1' },
    lxc: { rootfsDir: '/var/lib/pbs-ve/jobs/7/rootfs', idMap: { target: 1_073_741_824, count: 65_536 }, init: ['/bin/sh', '/init.sh'] },
    interfaces: [{ network: 'pbsve-clu.alice', mac: '52:54:01:02:03:04', targetDev: 'pven01234567', address: '10.99.0.11/24', mtu: 1450 }],
  };
  t.match(buildDomainXml(lxc), /<source network="pbsve-clu\.alice"\/>\s*<ip address="10\.99\.0\.11" prefix="24"\/>\s*<target dev="pven01234567"\/>\s*<mtu size="1450"\/>/);
  t.throws(() => buildDomainXml({ ...lxc, interfaces: [{ network: 'pbsve-clu.alice', mac: '52:54:01:02:03:04', targetDev: 'pven01234567', mtu: 99999 }] }), { code: 'invalid-domain-spec', field: 'interfaces[0].mtu' });
  const qemu: QemuDomainSpec = {
    name: 'pbsve-8', type: 'qemu', vcpus: 1, memoryMiB: 96, metadata: { jobId: '8', owner: 'alice', veName: 'vm' },
    qemu: { kernel: '/k', disks: [], serialLogPath: '/x/console.log' }, interfaces: lxc.interfaces ?? [],
  };
  t.notMatch(buildDomainXml(qemu), /<ip /, 'QEMU: the address goes into the guest\'s seed, not the domain');
  t.match(buildDomainXml(qemu), /<model type="virtio"\/>\s*<mtu size="1450"\/>/, 'QEMU: virtio with the overlay\'s MTU');
  for (const address of ["10.0.0.1/24'/><x", '10.0.0.1', 'a.b.c.d/24']) {
    t.throws(() => buildDomainXml({ ...lxc, interfaces: [{ network: 'pbsve-clu.alice', mac: '52:54:01:02:03:04', targetDev: 'pven01234567', address }] }), { code: 'invalid-domain-spec' }, address);
  }
  const [, clu] = plan('node1');
  if (clu === undefined) throw new Error('no plan');
  const xml = buildNetworkXml(clu, undefined);
  t.match(xml, /<mtu size="1450"\/>/);
  t.notMatch(xml, /<ip|<dhcp|<forward/, 'no host address, no DHCP, no forwarding');
  t.throws(() => buildNetworkXml(clu, '10.9.0.0/24'), { code: 'invalid-network' }, 'never a subnet on an overlay network');
  t.end();
});

void t.test('host: the VXLAN device is made in the underlay namespace, moved, enslaved, flooded to the peers; removed with the network', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-cnet-'));
  t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
  const calls: string[] = [];
  const active = new Set<string>();
  const virsh = (_uri: string, command: string, _o: readonly string[], operands: readonly string[]): Promise<VirshOutcome> => {
    const name = operands[0] ?? '';
    if (command === 'net-info') return Promise.resolve(active.has(name) ? { ok: true, stdout: 'Active:         yes\n', message: '' } : { ok: false, stdout: '', message: 'Network not found' });
    if (command === 'net-create') {
      const xml = readFileSync(name, 'utf8');
      calls.push(`net-create ${xml.includes('<ip') ? 'with-ip' : 'no-ip'}`);
      active.add(/<name>([^<]+)</.exec(xml)?.[1] ?? '');
    }
    if (command === 'net-destroy') active.delete(name);
    return Promise.resolve({ ok: true, stdout: '', message: '' });
  };
  const devices = new Set<string>();
  const run = (file: string, args: readonly string[]) => {
    calls.push(`${file} ${args.join(' ')}`);
    const dev = args[args.indexOf('dev') + 1] ?? '';
    if (args.join(' ').startsWith('-o link show dev')) return Promise.resolve({ stdout: '', stderr: '', exitCode: devices.has(dev) ? 0 : 1 });
    if (args.includes('add') && args.includes('vxlan')) devices.add(args[args.indexOf('add') + 1] ?? '');
    if (args[0] === 'link' && args[1] === 'del') devices.delete(dev);
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
  };
  const nets = createVeNetworks({ stateDir, log: () => undefined, run, virsh, pid: 4242 });
  const [, clu] = plan('node1');
  if (clu?.overlay === undefined) throw new Error('no overlay plan');
  const o = clu.overlay;
  await nets.ensure('lxc://', '7', [clu]);
  t.ok(calls.includes('net-create no-ip'), 'libvirt network without host address or DHCP');
  t.notOk(calls.some((c) => c.includes('addr show')), 'no subnet is chosen for it');
  const expected = [
    `ip -n pbsve-u-node1 link add ${o.device} type vxlan id ${o.vni} local 10.251.0.1 dstport 4789`,
    `ip -n pbsve-u-node1 link set dev ${o.device} netns 4242`,
    `ip link set dev ${o.device} mtu 1450`,
    `ip link set dev ${o.device} master ${clu.bridge}`,
    `ip link set dev ${o.device} up`,
    `bridge fdb append 00:00:00:00:00:00 dev ${o.device} dst 10.251.0.2`,
    `bridge fdb append 00:00:00:00:00:00 dev ${o.device} dst 10.251.0.3`,
  ];
  t.same(calls.filter((c) => !c.startsWith('net-') && !c.includes('link show')), expected, 'made in the underlay namespace, moved to the bridge\'s, flooded to both peers');
  calls.length = 0;
  await nets.ensure('lxc://', '8', [clu]);
  t.notOk(calls.some((c) => c.includes('vxlan')), 'a second VE on the network adds no second device');

  // another network whose VNI is the same on this host: refused, nothing made
  const clash: HostNetworkPlan = { ...clu, name: 'other', libvirtName: 'pbsve-other.bob', bridge: 'pveb99999999', overlay: { ...o, device: 'pvex99999999' } };
  await t.rejects(nets.ensure('lxc://', '9', [clash]), { code: 'overlay-vni-collision' });
  t.notOk(devices.has('pvex99999999'), 'no device for the clashing network');
  t.notOk(active.has('pbsve-other.bob'), 'and its libvirt network undone');

  t.same(await nets.release('lxc://', '7', [clu]), [], 'still used by job 8');
  calls.length = 0;
  t.same(await nets.release('lxc://', '8', [clu]), [clu.libvirtName], 'gone with its last VE');
  t.ok(calls.includes(`ip link del dev ${o.device}`), 'with its VXLAN device');
  t.notOk(devices.has(o.device));
  await nets.ensure('lxc://', '9', [clash]);
  t.ok(devices.has('pvex99999999'), 'the VNI is free again once its network is gone');

  // a forged record (the epilogue reads the job record back): nothing reaches ip
  calls.length = 0;
  for (const bad of [{ ...o, netns: 'x y' }, { ...o, local: '1.2.3.4; reboot' }, { ...o, peers: ['10.0.0.1', '-rf'] }, { ...o, vni: 2 ** 24 }, { ...o, device: 'a/b' }]) {
    await t.rejects(nets.release('lxc://', '9', [{ ...clash, overlay: bad }]), { code: 'invalid-network' }, JSON.stringify(bad).slice(0, 60));
  }
  t.same(calls, [], 'a bad plan runs nothing');
});
