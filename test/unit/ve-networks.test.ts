import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VeError } from '../../src/core/ve-error.js';
import { validateNetworkNames, validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { buildVeMac } from '../../src/core/ve-nic.js';
import { foldEvent } from '../../src/core/fold-event.js';
import { parseNetworkConfig } from '../../src/config/network-config.js';
import { parseConfig } from '../../src/config/load-config.js';
import {
  buildBridgeName, buildNicDeviceName, buildVlanDeviceName, chooseSubnet, describeSubnet, planVeNetworks, type HostNetworkPlan,
} from '../../src/prologue/plan-ve-networks.js';
import { buildNetworkXml } from '../../src/virt/build-network-xml.js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { createVeNetworks, parseDhcpLeases, parseInterfaceAddresses } from '../../src/host/ve-networks.js';
import { findNicAddresses, describeNicAddresses } from '../../src/mom-hooks/find-nic-addresses.js';
import { decodeInterfaceValues, encodeInterfaceValue, encodeVeAttributes, buildVeUpdateChanges } from '../../src/inventory/ve-entry.js';
import { decodeVeEvent, encodeVeEvent } from '../../src/events/encode-ve-event.js';
import type { VeSpec } from '../../src/core/ve-spec.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { VeRecord } from '../../src/inventory/inventory.js';
import type { LxcDomainSpec, QemuDomainSpec } from '../../src/virt/domain-spec.js';
import type { VirshOutcome } from '../../src/virt/run-virsh.js';

const limits = { maxVcpus: 8, maxMemoryMiB: 4096, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
const raw = { name: 'web1', type: 'lxc', image: 'tiny', vcpus: '1', memory: '64', lease: '1h' };
const spec = (networks?: readonly string[]): VeSpec => ({
  version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600, ...(networks === undefined ? {} : { networks }),
});

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof VeError) return `${err.field ?? ''}: ${err.message}`;
    throw err;
  }
  return undefined;
}

void t.test('network names: strict, bounded, each once; absent = default network', (t) => {
  t.same(validateNetworkNames(undefined), []);
  t.same(validateNetworkNames(['default', 'lab', 'my-net2']), ['default', 'lab', 'my-net2']);
  for (const bad of ['Lab', 'a.b', '1net', '-x', 'a b', "x'/>", '', 'x'.repeat(32), '../x', 'a_b']) {
    t.match(fieldOf(() => validateNetworkNames([bad])), /^network: .*must be 1-31 lower-case/, `refuses ${JSON.stringify(bad)}`);
  }
  t.match(fieldOf(() => validateNetworkNames(['a', 'b', 'c', 'd', 'e'])), /network: .*at most 4 networks/);
  t.match(fieldOf(() => validateNetworkNames(['a', 'b'], 1)), /at most 1 networks/);
  t.match(fieldOf(() => validateNetworkNames(['a', 'a'])), /names the same network twice/);
  t.match(fieldOf(() => validateNetworkNames('lab')), /must be a list/);
  t.match(fieldOf(() => validateNetworkNames([7])), /network: /);
  t.same(validateVeSpec({ ...raw, networks: ['lab'] }, limits).networks, ['lab']);
  t.notOk('networks' in validateVeSpec(raw, limits), 'no networks key when none asked for');
  t.notOk('networks' in validateVeSpec({ ...raw, networks: [] }, limits), 'an empty list is the default too');
  t.match(fieldOf(() => validateVeSpec({ ...raw, networks: ['a', 'b', 'c'] }, { ...limits, maxNics: 2 })), /at most 2 networks/);
  t.end();
});

void t.test('the spec token carries networks; tokens without them decode as before', (t) => {
  const s = spec(['lab', 'default']);
  t.same(decodeVeSpec(encodeVeSpec(s)), s);
  const old = spec();
  t.notMatch(Buffer.from(encodeVeSpec(old).slice(3), 'base64url').toString(), /networks/, 'no networks key in an old-style token');
  t.same(decodeVeSpec(encodeVeSpec(old)), old);
  const forged = `v1.${Buffer.from(JSON.stringify({ name: 'x', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60, networks: ["x'/>"] })).toString('base64url')}`;
  t.throws(() => decodeVeSpec(forged), { code: 'invalid-field', field: 'network' });
  t.end();
});

void t.test('MACs: deterministic, locally administered unicast, distinct per job and NIC', (t) => {
  const mac = buildVeMac('42', 0);
  t.equal(mac, buildVeMac('42', 0), 'the same on every start of the job');
  t.match(mac, /^52:54(:[0-9a-f]{2}){4}$/);
  t.equal(Number.parseInt(mac.slice(0, 2), 16) & 0x03, 0x02, 'locally administered, not multicast');
  const all = new Set<string>();
  for (let job = 1; job <= 500; job += 1) for (let nic = 0; nic < 4; nic += 1) all.add(buildVeMac(String(job), nic));
  t.equal(all.size, 2000, '2000 NICs, 2000 MACs');
  t.end();
});

void t.test('config: network section defaults and errors that name the key', (t) => {
  t.same(parseNetworkConfig(undefined), { maxNics: 4, hosts: {}, networks: {}, subnetPool: '10.213.0.0/16' });
  const cfg = parseNetworkConfig({ maxNics: 2, hosts: { node1: { prefix: 'pv1', trunk: 'eth1', defaultSubnet: '10.9.0.0/24' }, default: {} }, networks: { lab: { vlan: 42, subnet: '10.42.0.0/24', users: ['alice'], groups: ['lab'] } } });
  t.same(cfg.hosts['node1'], { prefix: 'pv1', trunk: 'eth1', defaultSubnet: '10.9.0.0/24' });
  t.same(cfg.hosts['default'], { prefix: 'pve' });
  t.same(cfg.networks['lab'], { vlan: 42, subnet: '10.42.0.0/24', users: ['alice'], groups: ['lab'] });
  const cases: [unknown, RegExp][] = [
    [{ maxNics: 0 }, /network\.maxNics/], [{ maxNics: 99 }, /network\.maxNics/],
    [{ hosts: { n: { prefix: 'toolongx' } } }, /network\.hosts\.n\.prefix/], [{ hosts: { n: { prefix: 'A-1' } } }, /prefix/],
    [{ hosts: { n: { trunk: 'eth0; rm -rf /' } } }, /network\.hosts\.n\.trunk/], [{ hosts: { n: { defaultBridge: 'x'.repeat(16) } } }, /defaultBridge/],
    [{ hosts: { n: { defaultSubnet: '10.0.0.1/24' } } }, /defaultSubnet: .*host bits zero/], [{ hosts: { n: { defaultSubnet: '10.0.0.0/30' } } }, /defaultSubnet/],
    [{ networks: { default: {} } }, /network\.networks\.default/], [{ networks: { 'A.b': {} } }, /network\.networks\.A\.b/],
    [{ networks: { lab: { vlan: 4095 } } }, /network\.networks\.lab\.vlan/], [{ networks: { lab: { users: ['a b'] } } }, /network\.networks\.lab\.users/],
    [{ subnetPool: '10.0.0.0/24' }, /network\.subnetPool/], [[], /network: must be an object/],
  ];
  for (const [input, expected] of cases) t.match(fieldOf(() => parseNetworkConfig(input)), expected, JSON.stringify(input));
  const whole = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } });
  t.equal(whole.network?.maxNics, 4, 'config.json without a network section gets the defaults');
  t.end();
});

void t.test('planning: default, declared and private networks, names that never collide', (t) => {
  const config = parseNetworkConfig({
    hosts: { node1: { prefix: 'pv1', trunk: 'eth1' }, node3: { defaultBridge: 'br0' } },
    networks: { lab: { vlan: 42 }, staff: { users: ['alice'], groups: ['admins'] }, flat: { subnet: '10.50.0.0/24' } },
  });
  const plan = planVeNetworks({ spec: spec(), jobId: '7', owner: 'bob', ownerGroups: [], host: 'node1', config });
  t.equal(plan.networks.length, 1);
  t.match(plan.networks[0], { name: 'default', kind: 'default', libvirtName: 'pbsve-default', managed: true });
  t.same(plan.nics, [{ network: 'default', mac: buildVeMac('7', 0) }]);
  t.same(plan.interfaces, [{ network: 'pbsve-default', mac: buildVeMac('7', 0), targetDev: buildNicDeviceName('pv1', 'node1', '7', 0) }]);

  const multi = planVeNetworks({ spec: spec(['lab', 'mine', 'flat']), jobId: '7', owner: 'bob', ownerGroups: [], host: 'node1', config });
  t.same(multi.networks.map((n) => [n.kind, n.libvirtName]), [['declared', 'pbsve-lab'], ['private', 'pbsve-mine.bob'], ['declared', 'pbsve-flat']]);
  t.same(multi.networks[0]?.vlan, { trunk: 'eth1', tag: 42, device: 'eth1.42' }, 'VLAN on the host trunk');
  t.equal(multi.networks[2]?.subnet, '10.50.0.0/24');
  t.equal(new Set(multi.interfaces.map((i) => i.mac)).size, 3);
  for (const n of multi.networks) t.ok(n.bridge.length <= 15 && /^pv1b[0-9a-f]{8}$/.test(n.bridge), `bridge ${n.bridge} is a valid Linux name`);
  for (const i of multi.interfaces) t.match(i.targetDev, /^pv1n[0-9a-f]{8}$/);

  const other = planVeNetworks({ spec: spec(['mine']), jobId: '8', owner: 'carol', ownerGroups: [], host: 'node1', config });
  t.not(other.networks[0]?.libvirtName, multi.networks[1]?.libvirtName, 'another owner\'s network of the same name is another network');
  t.not(other.networks[0]?.bridge, multi.networks[1]?.bridge, 'on another bridge');
  // "a-b"+"c" and "a"+"b-c" must not meet: the separator cannot occur in a network name
  const x = planVeNetworks({ spec: spec(['c']), jobId: '1', owner: 'a-b', ownerGroups: [], host: 'h', config });
  const y = planVeNetworks({ spec: spec(['b-c']), jobId: '1', owner: 'a', ownerGroups: [], host: 'h', config });
  t.not(x.networks[0]?.libvirtName, y.networks[0]?.libvirtName);
  t.not(buildBridgeName('pve', 'node1', 'pbsve-default'), buildBridgeName('pve', 'node2', 'pbsve-default'), 'hosts sharing a network namespace get different bridges');

  const node2 = planVeNetworks({ spec: spec(['lab']), jobId: '7', owner: 'bob', ownerGroups: [], host: 'node2', config });
  t.equal(node2.networks[0]?.vlan, undefined, 'a host without trunk keeps the declared network host-local');
  const node3 = planVeNetworks({ spec: spec(), jobId: '7', owner: 'bob', ownerGroups: [], host: 'node3', config });
  t.match(node3.networks[0], { bridge: 'br0', managed: false }, 'an admin bridge is used as it is');

  t.match(fieldOf(() => planVeNetworks({ spec: spec(['staff']), jobId: '7', owner: 'bob', ownerGroups: ['users'], host: 'node1', config })), /network: .*"staff".*bob may not attach/);
  t.equal(planVeNetworks({ spec: spec(['staff']), jobId: '7', owner: 'alice', ownerGroups: [], host: 'node1', config }).networks[0]?.kind, 'declared');
  t.equal(planVeNetworks({ spec: spec(['staff']), jobId: '7', owner: 'bob', ownerGroups: ['admins'], host: 'node1', config }).networks[0]?.kind, 'declared');
  const small = parseNetworkConfig({ maxNics: 1 });
  t.match(fieldOf(() => planVeNetworks({ spec: spec(['a', 'b']), jobId: '7', owner: 'bob', ownerGroups: [], host: 'n', config: small })), /network: at most 1 networks/);
  t.equal(planVeNetworks({ spec: spec(), jobId: '7', owner: 'bob', ownerGroups: [], host: 'n', config: undefined }).networks[0]?.bridge.slice(0, 4), 'pveb', 'no config: built-in prefix');
  t.equal(buildVlanDeviceName('pve', 'enp129s0f1np1', 4000), `pvev${buildVlanDeviceName('pve', 'enp129s0f1np1', 4000).slice(4)}`, 'long trunk names are hashed');
  t.ok(buildVlanDeviceName('pve', 'enp129s0f1np1', 4000).length <= 15);
  t.end();
});

void t.test('subnets: a free /24 of the pool, gateway and DHCP range', (t) => {
  const first = chooseSubnet('10.213.0.0/16', 'seed', []);
  t.match(first, /^10\.213\.\d{1,3}\.0\/24$/);
  t.equal(chooseSubnet('10.213.0.0/16', 'seed', []), first, 'the same seed starts at the same place');
  const taken = first?.replace('.0/24', '.1/24') ?? '';
  const second = chooseSubnet('10.213.0.0/16', 'seed', [taken]);
  t.not(second, first, 'an address of this host in it rules it out');
  t.equal(chooseSubnet('10.213.0.0/23', 's', ['10.213.0.1/24', '10.213.1.7/24']), undefined, 'a full pool gives nothing');
  t.equal(chooseSubnet('10.213.0.0/23', 's', ['10.0.0.1/8']), undefined, 'a wider address covering the pool counts too');
  t.same(describeSubnet('10.9.8.0/24'), { gateway: '10.9.8.1', netmask: '255.255.255.0', first: '10.9.8.2', last: '10.9.8.254' });
  t.same(describeSubnet('10.9.8.0/29'), { gateway: '10.9.8.1', netmask: '255.255.255.248', first: '10.9.8.2', last: '10.9.8.6' });
  t.equal(describeSubnet('10.9.8.0/30'), undefined);
  t.same(parseInterfaceAddresses('1: lo    inet 127.0.0.1/8 scope host lo\n5: br0    inet 10.213.4.1/24 brd 10.213.4.255 scope global br0\n'), ['127.0.0.1/8', '10.213.4.1/24']);
  t.end();
});

const managed: HostNetworkPlan = { name: 'mine', kind: 'private', libvirtName: 'pbsve-mine.bob', bridge: 'pveb0123abcd', managed: true, subnetPool: '10.213.0.0/16' };

void t.test('libvirt network XML: isolated bridge with DHCP, or the admin\'s bridge', (t) => {
  const xml = buildNetworkXml(managed, '10.213.7.0/24');
  t.match(xml, /<name>pbsve-mine\.bob<\/name>/);
  t.match(xml, /<bridge name="pveb0123abcd" stp="off" delay="0"\/>/);
  t.match(xml, /<ip address="10\.213\.7\.1" netmask="255\.255\.255\.0">\s*<dhcp>\s*<range start="10\.213\.7\.2" end="10\.213\.7\.254"\/>/);
  t.notMatch(xml, /<forward/, 'no <forward>: libvirt isolates the network');
  t.notMatch(buildNetworkXml(managed, undefined), /<ip/, 'no subnet, no DHCP');
  const bridged = buildNetworkXml({ ...managed, kind: 'default', libvirtName: 'pbsve-default', bridge: 'br0', managed: false }, undefined);
  t.match(bridged, /<forward mode="bridge"\/>\s*<bridge name="br0"\/>/);
  t.throws(() => buildNetworkXml({ ...managed, libvirtName: "pbsve-x'/><ip" }, undefined), { code: 'invalid-network' });
  t.throws(() => buildNetworkXml({ ...managed, bridge: 'a/b' }, undefined), { code: 'invalid-network' });
  t.throws(() => buildNetworkXml(managed, '10.0.0.0/31'), { code: 'invalid-network' });
  t.end();
});

const lxc: LxcDomainSpec = {
  name: 'pbsve-7', type: 'lxc', vcpus: 1, memoryMiB: 64, metadata: { jobId: '7', owner: 'bob', veName: 'web1' },
  lxc: { rootfsDir: '/var/lib/pbs-ve/jobs/7/rootfs', idMap: { target: 1_073_741_824, count: 65_536 }, init: ['/bin/sh', '/init.sh'] },
};
const nicA = { network: 'pbsve-default', mac: '52:54:01:02:03:04', targetDev: 'pven01234567' };
const nicB = { network: 'pbsve-mine.bob', mac: '52:54:01:02:03:05', targetDev: 'pven01234568' };

void t.test('domain XML: one <interface> per NIC, in order, nothing else', (t) => {
  const xml = buildDomainXml({ ...lxc, interfaces: [nicA, nicB] });
  const ifaces = xml.match(/<interface type="network">[\s\S]*?<\/interface>/g) ?? [];
  t.equal(ifaces.length, 2);
  t.match(ifaces[0], /<mac address="52:54:01:02:03:04"\/>\s*<source network="pbsve-default"\/>\s*<target dev="pven01234567"\/>/);
  t.notMatch(ifaces[0], /<model/, 'LXC: a veth, no model');
  t.match(ifaces[1], /pbsve-mine\.bob/);
  t.notMatch(buildDomainXml(lxc), /<interface/, 'no NICs asked, none made');
  const qemu: QemuDomainSpec = {
    name: 'pbsve-8', type: 'qemu', vcpus: 1, memoryMiB: 96, metadata: { jobId: '8', owner: 'bob', veName: 'vm' },
    qemu: { kernel: '/k', disks: [], serialLogPath: '/var/lib/pbs-ve/jobs/8/console.log' }, interfaces: [nicA],
  };
  t.match(buildDomainXml(qemu), /<target dev="pven01234567"\/>\s*<model type="virtio"\/>/, 'QEMU: virtio');
  const bad: [Partial<typeof nicA>, string][] = [
    [{ network: 'default' }, 'interfaces[0].network'], [{ network: "pbsve-x'/>" }, 'interfaces[0].network'],
    [{ mac: '52:54:01:02:03' }, 'interfaces[0].mac'], [{ mac: '52:54:01:02:03:0G' }, 'interfaces[0].mac'],
    [{ targetDev: 'vnet0' }, 'interfaces[0].targetDev'], [{ targetDev: 'x'.repeat(16) }, 'interfaces[0].targetDev'], [{ targetDev: 'a/b' }, 'interfaces[0].targetDev'],
  ];
  for (const [patch, field] of bad) t.throws(() => buildDomainXml({ ...lxc, interfaces: [{ ...nicA, ...patch }] }), { code: 'invalid-domain-spec', field }, JSON.stringify(patch));
  t.throws(() => buildDomainXml({ ...lxc, interfaces: [nicA, { ...nicB, mac: nicA.mac }] }), { code: 'invalid-domain-spec', field: 'interfaces[1].mac' });
  t.throws(() => buildDomainXml({ ...lxc, interfaces: [nicA, { ...nicB, targetDev: nicA.targetDev }] }), { code: 'invalid-domain-spec', field: 'interfaces[1].targetDev' });
  t.end();
});

void t.test('DHCP leases -> NIC addresses, reported only when they change', (t) => {
  const table = ` Expiry Time           MAC address         Protocol   IP address         Hostname   Client ID or DUID
----------------------------------------------------------------------------------------------------------
 2026-11-23 15:37:14   52:54:aa:bb:cc:01   ipv4       10.213.77.205/24   -          01:52:54:aa:bb:cc:01
 2026-11-23 15:37:14   52:54:aa:bb:cc:02   ipv6       fd00::5/64         -          -
`;
  t.same(parseDhcpLeases(table), [{ mac: '52:54:aa:bb:cc:01', ip: '10.213.77.205' }]);
  const nics = [{ network: 'default', mac: '52:54:aa:bb:cc:01' }, { network: 'mine', mac: '52:54:aa:bb:cc:09' }];
  const leases = new Map([['pbsve-default', parseDhcpLeases(table)]]);
  const updated = findNicAddresses(nics, ['pbsve-default', 'pbsve-mine.bob'], leases);
  t.same(updated, [{ network: 'default', mac: '52:54:aa:bb:cc:01', ip: '10.213.77.205' }, nics[1]]);
  t.equal(findNicAddresses(updated ?? [], ['pbsve-default', 'pbsve-mine.bob'], leases), undefined, 'unchanged: nothing to report');
  t.equal(findNicAddresses(updated ?? [], ['pbsve-default', 'pbsve-mine.bob'], new Map()), undefined, 'an expired lease keeps the last address');
  t.equal(describeNicAddresses(updated ?? []), 'addresses: nic0 10.213.77.205 (default), nic1 - (mine)');
  t.end();
});

const event: VeEvent = {
  version: 1, jobId: '7', seq: 16, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'bob', name: 'web1', type: 'lxc',
  image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-7', source: 'prologue', reason: 'domain running',
};

void t.test('events and LDAP carry the NICs; events without them keep what is stored', (t) => {
  const withNics = { ...event, nics: [{ network: 'default', mac: '52:54:01:02:03:04', ip: '10.1.2.3' }, { network: 'mine', mac: '52:54:01:02:03:05' }] };
  t.same(decodeVeEvent(encodeVeEvent(withNics)), withNics);
  t.same(decodeVeEvent(encodeVeEvent(event)), event, 'no nics key when the sender knows none');
  for (const nics of [[{ network: 'Bad', mac: '52:54:01:02:03:04' }], [{ network: 'a', mac: 'zz' }], [{ network: 'a', mac: '52:54:01:02:03:04', ip: '10.1.2.300' }], 'x', Array(17).fill({ network: 'a', mac: '52:54:01:02:03:04' })]) {
    const line = Buffer.from(JSON.stringify({ ...event, nics })).toString('base64url');
    t.throws(() => decodeVeEvent(line), { code: 'invalid-event' }, JSON.stringify(nics).slice(0, 60));
  }
  const first = foldEvent(undefined, withNics).record;
  t.same(first?.nics, withNics.nics);
  const later = foldEvent(first, { ...event, seq: 32, state: 'destroyed', source: 'epilogue' }).record;
  t.same(later?.nics, withNics.nics, 'an event without NICs keeps the stored ones');

  t.equal(encodeInterfaceValue(withNics.nics[0] ?? { network: '', mac: '' }, 0), 'nic0 default 52:54:01:02:03:04 10.1.2.3');
  t.same(decodeInterfaceValues(['nic1 mine 52:54:01:02:03:05', 'nic0 default 52:54:01:02:03:04 10.1.2.3', 'garbage', 'nic2 x 52:54:01:02:03:06 999.1.1.1']), withNics.nics, 'ordered by index, bad values skipped');
  const record = first as VeRecord;
  const attrs = encodeVeAttributes(record);
  t.same(attrs['pbsveInterface'], ['nic0 default 52:54:01:02:03:04 10.1.2.3', 'nic1 mine 52:54:01:02:03:05']);
  t.same(attrs['pbsveMac'], ['52:54:01:02:03:04', '52:54:01:02:03:05']);
  t.same(attrs['pbsveIp'], ['10.1.2.3']);
  const withoutNics: VeRecord = { ...record };
  delete (withoutNics as { nics?: unknown }).nics;
  t.notOk(encodeVeAttributes(withoutNics).pbsveInterface, 'no NICs, no attribute');
  t.notOk(buildVeUpdateChanges(withoutNics, 16).some((c) => c.type === 'pbsveInterface'), 'an update without NICs leaves them alone');
  t.ok(buildVeUpdateChanges(record, 16).some((c) => c.type === 'pbsveInterface' && c.operation === 'replace'));
  t.end();
});

void t.test('host networks: created once, shared while used, private ones removed with their last VE', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-net-'));
  t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
  const active = new Set<string>();
  const calls: string[] = [];
  let failCreate = '';
  const virsh = (_uri: string, command: string, _options: readonly string[], operands: readonly string[]): Promise<VirshOutcome> => {
    const name = operands[0] ?? '';
    calls.push(`${command} ${command === 'net-create' ? /<name>([^<]+)</.exec(readFileSync(name, 'utf8'))?.[1] ?? '' : name}`);
    if (command === 'net-info') return Promise.resolve(active.has(name) ? { ok: true, stdout: 'Name: x\nActive:         yes\n', message: '' } : { ok: false, stdout: '', message: 'Network not found' });
    if (command === 'net-create') {
      const created = /<name>([^<]+)</.exec(readFileSync(name, 'utf8'))?.[1] ?? '';
      if (created === failCreate) return Promise.resolve({ ok: false, stdout: '', message: 'bridge exists' });
      active.add(created);
      return Promise.resolve({ ok: true, stdout: '', message: '' });
    }
    if (command === 'net-destroy') active.delete(name);
    return Promise.resolve({ ok: true, stdout: '', message: '' });
  };
  const run = (file: string, args: readonly string[]) => {
    calls.push(`${file} ${args.join(' ')}`);
    // no VLAN device exists yet: `ip link show dev` fails
    return Promise.resolve({ stdout: args.includes('addr') ? '2: eth0    inet 10.213.5.1/24 scope global\n' : '', stderr: '', exitCode: args.includes('show') && args.includes('link') ? 1 : 0 });
  };
  const nets = createVeNetworks({ stateDir, log: () => undefined, run, virsh });
  const def: HostNetworkPlan = { ...managed, name: 'default', kind: 'default', libvirtName: 'pbsve-default', bridge: 'pvebdef' };
  await nets.ensure('lxc://', '1', [def, managed]);
  await nets.ensure('lxc://', '2', [managed]);
  t.equal(calls.filter((c) => c.startsWith('net-create')).length, 2, 'each network created once');
  t.ok(active.has('pbsve-mine.bob'));
  t.same(await nets.release('lxc://', '1', [def, managed]), [], 'still used by job 2');
  t.same(await nets.release('lxc://', '2', [managed]), ['pbsve-mine.bob'], 'gone with its last VE');
  t.ok(active.has('pbsve-default'), 'the default network stays');
  t.notOk(active.has('pbsve-mine.bob'));

  failCreate = 'pbsve-other.bob';
  const other = { ...managed, libvirtName: 'pbsve-other.bob', bridge: 'pveb99999999' };
  const vlanNet = { ...managed, libvirtName: 'pbsve-lab', kind: 'declared' as const, vlan: { trunk: 'eth1', tag: 42, device: 'eth1.42' } };
  await t.rejects(nets.ensure('lxc://', '3', [vlanNet, other]), { code: 'network-create-failed' });
  t.notOk(active.has('pbsve-lab'), 'a failure undoes the networks this VE created');
  t.ok(calls.includes('ip link add link eth1 name eth1.42 type vlan id 42'), 'the VLAN device was made on the trunk');
  t.ok(calls.includes('ip link set dev eth1.42 master pveb0123abcd'), 'and enslaved to the bridge');
  t.ok(calls.includes('ip link del dev eth1.42'), 'and removed on undo');

  const before = calls.length;
  for (const bad of [{ ...managed, libvirtName: 'pbsve-x/../../etc' }, { ...managed, bridge: 'br0;reboot' }, { ...vlanNet, vlan: { trunk: 'eth1 x', tag: 1, device: 'v' } }]) {
    await t.rejects(nets.ensure('lxc://', '4', [bad]), { code: 'invalid-network' }, JSON.stringify(bad).slice(0, 80));
    await t.rejects(nets.release('lxc://', '4', [bad]), { code: 'invalid-network' });
  }
  t.equal(calls.length, before, 'a bad plan runs nothing');
  t.same(await nets.readLeases('lxc://', 'default; rm'), [], 'leases only of pbs-ve networks');
});
