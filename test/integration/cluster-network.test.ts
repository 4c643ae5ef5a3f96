// Cluster networks across hosts (issue 13), backends: slurm torque. One owner's private network spans
// node1 and node2 over VXLAN: real packets (ping, TCP) between containers on different simulated hosts,
// seen encapsulated on the receiving host's underlay (its own network namespace); another owner's network
// of the same name is another VNI and another bridge, and its VEs reach each other but not the first owner's.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import type { HostNetworkPlan } from '../../src/prologue/plan-ve-networks.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findJobDir } from '../harness/sandbox-host-files.js';
import { findContainerInit } from '../harness/find-container-init.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';

const USER_A = 'pbsve-user1';
const USER_B = 'pbsve-user2';
let info: SandboxInfo;
let batch: BatchControl;
useSandbox(t, {
  prefix: '/tmp/pbsve-cnet-', verbose: true, users: [USER_B],
  ready: (started) => { info = started; batch = openBatchControl(started); },
});

interface Member { readonly user: string; readonly name: string; readonly host: string; readonly address: string; jobId: string }

// Two owners, one network name, members on both hosts: A's .11/.12, B's .13/.14, all in one /24.
const members: Member[] = [
  { user: USER_A, name: 'ca1', host: 'node1', address: '10.99.0.11', jobId: '' },
  { user: USER_B, name: 'cb1', host: 'node1', address: '10.99.0.13', jobId: '' },
  { user: USER_A, name: 'ca2', host: 'node2', address: '10.99.0.12', jobId: '' },
  { user: USER_B, name: 'cb2', host: 'node2', address: '10.99.0.14', jobId: '' },
];
const member = (name: string): Member => {
  const m = members.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no member ${name}`);
  return m;
};

function readRecord(jobId: string): VeJobRecord {
  return JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord;
}

// nic1 of a member: the cluster network as the prologue planned it on the member's host
function clusterPlan(m: Member): HostNetworkPlan {
  const plan = readRecord(m.jobId).networks?.[1];
  if (plan === undefined) throw new Error(`job ${m.jobId}: no second network in its record`);
  return plan;
}

// As the container's root (see network-ve.test.ts for why nsenter and not lxc-enter-namespace).
async function inContainer(m: Member, args: readonly string[], timeoutMs = 30_000, input?: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const pid = await findContainerInit(info.nodes[m.host]?.lxcUri ?? '', `pbsve-${m.jobId}`);
  if (pid === undefined) throw new Error(`no init process for pbsve-${m.jobId} on ${m.host}'s libvirtd`);
  return runCommand('nsenter', ['--target', String(pid), '--all', '--root', '--wd', '-S', '0', '-G', '0', ...args], { timeoutMs, ...(input === undefined ? {} : { input }) });
}

async function ping(from: Member, address: string): Promise<boolean> {
  return (await inContainer(from, ['/bin/ping', '-c', '2', '-W', '3', address])).exitCode === 0;
}

async function ip(args: readonly string[]): Promise<string> {
  return (await runCommand('ip', args, { timeoutMs: 10_000 })).stdout;
}

// Packet counters of a device: what crossed it, without timing anything.
async function counters(netns: string | undefined, device: string): Promise<{ rx: number; tx: number }> {
  const read = async (which: string): Promise<number> => {
    const file = `/sys/class/net/${device}/statistics/${which}_packets`;
    const r = netns === undefined ? await runCommand('cat', [file], {}) : await runCommand('ip', ['netns', 'exec', netns, 'cat', file], {});
    return Number(r.stdout.trim());
  };
  return { rx: await read('rx'), tx: await read('tx') };
}

// Pins a VE to a host the way an admin would steer the scheduler: the other VE host takes no new job meanwhile.
async function createOn(t: Test, m: Member): Promise<void> {
  const other = m.host === 'node1' ? 'node2' : 'node1';
  await batch.drainNode(other, 'cluster-network-test');
  try {
    const r = await runVeAs(info, m.user, ['create', m.name, '--type', 'lxc', '--image', 'tiny', '--memory', '32', '--network', 'default', '--network', `clu=${m.address}/24`]);
    if (r.exitCode !== 0) throw new Error(`ve create ${m.name}: ${r.stderr}`);
    m.jobId = r.stdout.trim();
    await waitForLdapState(info, m.user, m.name, 'running', 120_000);
  } finally {
    await batch.resumeNode(other);
  }
  t.equal(readRecord(m.jobId).host, m.host, `${m.name} runs on ${m.host}`);
  // the guest prints the static address it kept (the tiny image starts no DHCP client on it)
  await waitFor(`${m.name}'s static address on its console`, 60_000, () => {
    const log = join(findJobDir(info, m.jobId), 'console.log');
    return existsSync(log) && readFileSync(log, 'utf8').includes(`CT-MARKER: ip ${m.address} on eth1 (static)`) ? true : undefined;
  });
}

void t.test('members of one owner on two hosts share one VXLAN segment; another owner\'s same-named network is apart', async (t) => {
  const started = Date.now();
  for (const m of members) await createOn(t, m);
  t.comment(`4 LXC members created and running (one at a time, pinned) in ${Date.now() - started} ms`);

  const [a1, a2, b1, b2] = [member('ca1'), member('ca2'), member('cb1'), member('cb2')];
  const pa1 = clusterPlan(a1);
  const pa2 = clusterPlan(a2);
  const pb1 = clusterPlan(b1);
  t.equal(pa1.libvirtName, `pbsve-clu.${USER_A}`, 'the owner\'s private network');
  t.ok(pa1.overlay !== undefined && pa2.overlay !== undefined, 'with a VXLAN overlay on both hosts');
  t.equal(pa1.overlay?.vni, pa2.overlay?.vni, 'one VNI for the owner\'s network on both hosts');
  t.not(pb1.overlay?.vni, pa1.overlay?.vni, 'another owner\'s network of the same name: another VNI');
  t.not(pb1.bridge, pa1.bridge, 'and another bridge');
  t.not(pa1.bridge, pa2.bridge, 'each host its own bridge');
  t.same(pa1.overlay?.peers, [pa2.overlay?.local], 'node1 floods to node2\'s underlay address');
  const detail = await ip(['-d', '-o', 'link', 'show', 'dev', pa1.overlay?.device ?? '']);
  t.match(detail, new RegExp(`master ${pa1.bridge}\\b`), 'the VXLAN device is a port of the owner\'s bridge');
  t.match(detail, new RegExp(`vxlan id ${pa1.overlay?.vni} local ${pa1.overlay?.local ?? ''} .*dstport 4789`), 'with the VNI, the host\'s underlay address and port 4789');
  t.match(detail, new RegExp(`link-netns ${pa1.overlay?.netns ?? ''}`), 'its socket in node1\'s underlay namespace');
  t.match(detail, /mtu 1450/, 'MTU 1450: room for the VXLAN header on a 1500 underlay');
  t.equal((await ip(['-4', '-o', 'addr', 'show', 'dev', pa1.bridge])).trim(), '', 'the bridge has no host address');
  const netXml = (await runCommand('virsh', ['-c', info.nodes['node1']?.lxcUri ?? '', 'net-dumpxml', pa1.libvirtName], {})).stdout;
  t.notMatch(netXml, /<ip |<dhcp|<forward/, 'libvirt network: no host address, no DHCP, no forwarding');
  const eth1 = (await inContainer(a1, ['/bin/ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout;
  t.match(eth1, /inet 10\.99\.0\.11\/24/, 'ca1 has its static address on eth1');
  // libvirt 9.0's LXC driver applies the interface's <mtu> to the host end of the veth only: the Virt adapter sets the container end
  t.equal((await inContainer(a1, ['/bin/cat', '/sys/class/net/eth1/mtu'])).stdout.trim(), '1450', 'the guest\'s NIC has MTU 1450 (no fragmentation of encapsulated frames)');
  t.equal((await inContainer(a2, ['/bin/cat', '/sys/class/net/eth1/mtu'])).stdout.trim(), '1450', 'on the other host too');

  // real packets across hosts, counted where they leave node1 and where they enter node2's underlay
  const ulBefore = await counters(pa2.overlay?.netns, 'ul0');
  const vxBefore = await counters(undefined, pa2.overlay?.device ?? '');
  const capture = existsSync('/usr/bin/tcpdump') || existsSync('/usr/sbin/tcpdump')
    ? runCommand('ip', ['netns', 'exec', pa2.overlay?.netns ?? '', 'tcpdump', '-l', '-n', '-c', '2', '-i', 'ul0', 'udp', 'port', '4789', 'and', 'src', pa1.overlay?.local ?? ''], { timeoutMs: 30_000 })
    : undefined;
  t.ok(await ping(a1, a2.address), 'ca1 (node1) reaches ca2 (node2) on the cluster network');
  // tcpdump may have attached after those pings: a few more until it saw its two packets
  let captured = capture === undefined;
  void capture?.then(() => { captured = true; });
  for (let i = 0; i < 10 && !captured; i += 1) await ping(a1, a2.address);
  const vxAfter = await counters(undefined, pa2.overlay?.device ?? '');
  const ulAfter = await counters(pa2.overlay?.netns, 'ul0');
  t.ok(vxAfter.rx - vxBefore.rx >= 2, `node2's VXLAN device decapsulated the pings (${vxAfter.rx - vxBefore.rx} packets)`);
  t.ok(ulAfter.rx - ulBefore.rx >= 2, `node2's underlay (namespace ${pa2.overlay?.netns ?? ''}) received them (${ulAfter.rx - ulBefore.rx} packets)`);
  if (capture !== undefined) {
    const seen = await capture;
    t.comment(seen.stdout.trim());
    t.match(seen.stdout, new RegExp(`VXLAN.*vni ${pa1.overlay?.vni}`), `tcpdump on node2's underlay: UDP 4789 from node1, VXLAN VNI ${pa1.overlay?.vni}`);
  } else {
    t.comment('tcpdump not installed: packet counters only');
  }

  // TCP across hosts: busybox nc listens in ca2 (into a file there), ca1 sends a line
  // its stdin stays open (sleep): a listener whose stdin is at EOF may end before it has read the client's line
  const server = inContainer(a2, ['/bin/sh', '-c', 'sleep 20 | nc -l -p 5000 > /tmp/tcp-got 2>&1; echo "nc exit $?" >> /tmp/tcp-got'], 60_000);
  // the listener may not be up yet: the client tries again until it connects (no timing asserted)
  const sent = await waitFor('ca1 to connect to ca2:5000', 30_000, async () => {
    const r = await inContainer(a1, ['/bin/nc', '-w', '3', a2.address, '5000'], 10_000, 'hello across hosts\n');
    return r.exitCode === 0 ? true : undefined;
  }, 500);
  t.ok(sent, 'ca1 opened a TCP connection to ca2');
  await server;
  t.match((await inContainer(a2, ['/bin/cat', '/tmp/tcp-got'])).stdout, /hello across hosts/, 'ca2 received the line over TCP');
  t.ok(await ping(a2, a1.address), 'and back: ca2 reaches ca1');

  // isolation: B's members reach each other across hosts (so B's pings work), never A's
  t.ok(await ping(b1, b2.address), 'cb1 (node1) reaches cb2 (node2): the other owner\'s network works too');
  t.notOk(await ping(b1, a1.address), 'cb1 cannot reach ca1 (same host, same network name, other owner)');
  t.notOk(await ping(b1, a2.address), 'cb1 cannot reach ca2 (other host)');
  t.notOk(await ping(a1, b2.address), 'ca1 cannot reach cb2');
  t.notOk(await ping(b2, a2.address), 'cb2 cannot reach ca2 (same host)');

  // libvirt's rules for an isolated network: nothing is routed into or out of the bridge
  const rules = (await runCommand('iptables', ['-S'], {})).stdout;
  t.match(rules, new RegExp(`-o ${pa1.bridge} -j REJECT`), `iptables rejects forwarding into ${pa1.bridge}`);
  t.match(rules, new RegExp(`-i ${pa1.bridge} -j REJECT`), 'and out of it');

  const devices = [pa1, pa2, pb1].map((p) => p.overlay?.device ?? '');
  for (const m of members) {
    const r = await runVeAs(info, m.user, ['destroy', m.name, '--wait', '90s']);
    t.equal(r.exitCode, 0, `destroy ${m.name}: ${r.stderr}`);
  }
  for (const d of devices) t.notOk((await runCommand('ip', ['link', 'show', 'dev', d], {})).exitCode === 0, `VXLAN device ${d} is gone with the network's last VE`);
  for (const p of [pa1, pa2, pb1]) t.notOk((await runCommand('ip', ['link', 'show', 'dev', p.bridge], {})).exitCode === 0, `bridge ${p.bridge} is gone`);
  for (const h of ['node1', 'node2']) {
    const netsDir = join(info.hosts[h]?.stateDir ?? '', 'networks');
    const left = existsSync(netsDir) ? readdirSync(netsDir).filter((f) => f.startsWith('vni-') || f.includes('pbsve-clu')) : [];
    t.same(left, [], `${h}: no VNI claim or users file left`);
  }
});

void t.test('static addresses: refused where they cannot work, before any service is asked', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--network', 'default=10.99.0.5/24'], /network: the default network gives addresses by DHCP/],
    [['--network', 'clu=10.99.0.0/24'], /network: a static address must not be its network's network or broadcast address/],
    [['--network', 'clu=10.99.0.300/24'], /network: a static address must be an IPv4 host address/],
    [['--network', "clu=1.2.3.4/24'/><x"], /network: a static address must be an IPv4 host address/],
    [['--network', 'lab=10.99.0.5/24'], /network: a static address is only for your private networks/],
  ];
  for (const [extra, expected] of cases) {
    const r = await runVeAs(info, USER_A, ['create', 'badaddr', '--type', 'lxc', '--image', 'tiny', ...extra]);
    t.equal(r.exitCode, 2, `exit 2 for ${extra.join(' ')}`);
    t.match(r.stderr, expected);
  }
});
