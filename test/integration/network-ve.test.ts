// VE networks with real guests: the default network's NIC exactly as allocated, MAC and DHCP address in
// LDAP and `ve show`, isolation between owners' private networks (busybox ping inside the containers),
// private networks removed with their last VE, and hostile network specs refused with nothing left behind.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { deriveNetworkPrefix, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findJobDir, isRefusalBookkeeping } from '../harness/sandbox-host-files.js';
import { findContainerInit } from '../harness/find-container-init.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

interface Nic { network: string; mac: string; ip?: string }
interface Details { ve: { name: string; host: string; jobId: string; owner: string; nics?: Nic[] }; history: { reason: string }[] }

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-net-', verbose: true,
  // this file tests host-local private networks (DHCP, a host address on each): without the VXLAN overlay
  overlay: false,
  ready: async (started) => {
    info = started;
    // private networks are host-local: every VE of this file runs on node1
    const r = await runCommand('scontrol', ['update', 'nodename=node2', 'state=drain', 'reason=network-test'], { env: info.env });
    if (r.exitCode !== 0) throw new Error(`drain node2: ${r.stderr}`);
  },
});
let info: SandboxInfo;
const USER1 = existsSync('/home/pbsve-user1') ? 'pbsve-user1' : undefined;
const USER2 = existsSync('/home/pbsve-user2') ? 'pbsve-user2' : undefined;
const lxcUri = (): string => info.nodes['node1']?.lxcUri ?? '';

function readRecord(jobId: string): VeJobRecord {
  return JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord;
}

async function virsh(args: readonly string[]): Promise<string> {
  return (await runCommand('virsh', ['-q', '-c', lxcUri(), ...args], { timeoutMs: 30_000 })).stdout;
}

async function show(user: string | undefined, name: string): Promise<Details> {
  const r = await runVeAs(info, user, ['show', name, '--json']);
  if (r.exitCode !== 0) throw new Error(`ve show ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Details;
}

async function create(user: string | undefined, name: string, extra: readonly string[]): Promise<string> {
  const r = await runVeAs(info, user, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '32', ...extra]);
  if (r.exitCode !== 0) throw new Error(`ve create ${name}: ${r.stderr}`);
  await waitForLdapState(info, user, name, 'running', 90_000);
  return r.stdout.trim();
}

// The periodic host hook (cron on a real host) is what reads the DHCP leases; run it until LDAP has the IP.
async function waitForIp(user: string | undefined, name: string): Promise<{ ip: string; ms: number }> {
  const started = Date.now();
  const ip = await waitFor(`an IP for ${name} in LDAP`, 90_000, async () => {
    await runCommand(process.execPath, [join(process.cwd(), 'dist/src/mom-hooks/report-main.js'), '--host', 'node1'], { env: { ...info.env, PBS_VE_CONFIG_DIR: info.hosts['node1']?.configDir ?? '' }, timeoutMs: 60_000 });
    const d = await show(user, name);
    return d.ve.nics?.[0]?.ip;
  }, 1000);
  return { ip, ms: Date.now() - started };
}

// As the container's root: virsh lxc-enter-namespace joins the user namespace as the host's root, which is
// unmapped there (uid 65534, no capabilities, so no raw socket for ping); nsenter -S 0 -G 0 becomes its root
// (the container's network namespace belongs to its user namespace, so that root may open a raw socket).
// The container is found through this sandbox's libvirtd: its name alone also matches other sandboxes' VEs.
async function ping(jobId: string, ip: string): Promise<boolean> {
  const pid = await findContainerInit(lxcUri(), `pbsve-${jobId}`);
  if (pid === undefined) throw new Error(`no init process for pbsve-${jobId} on node1's libvirtd`);
  const r = await runCommand('nsenter', ['--target', String(pid), '--all', '--root', '--wd', '-S', '0', '-G', '0', '/bin/ping', '-c', '2', '-W', '5', ip], { timeoutMs: 30_000 });
  return r.exitCode === 0;
}

// A lease in libvirt's status file is not yet an address on the guest's NIC: the guest prints it once set.
async function waitForGuestAddress(jobId: string, ip: string): Promise<void> {
  const marker = `CT-MARKER: ip ${ip} on eth0`;
  await waitFor(`${marker} on the console of job ${jobId}`, 60_000, () => {
    const log = join(findJobDir(info, jobId), 'console.log');
    return existsSync(log) && readFileSync(log, 'utf8').includes(marker) ? true : undefined;
  });
}

// The host's address on the network of a VE's first NIC: what that VE must reach for its "not reached" to mean isolation.
async function findGateway(jobId: string): Promise<string> {
  const network = (await virsh(['domiflist', `pbsve-${jobId}`])).trim().split(/\s+/)[2] ?? '';
  const address = /<ip address='([0-9.]+)'/.exec(await virsh(['net-dumpxml', network]))?.[1];
  if (address === undefined) throw new Error(`no host address on network ${network} of job ${jobId}`);
  return address;
}

// This sandbox's bridges only: other sandboxes on the machine (another test run) make and remove their own.
async function bridges(): Promise<string[]> {
  const r = await runCommand('ip', ['-o', 'link', 'show', 'type', 'bridge'], {});
  const prefix = deriveNetworkPrefix(info.dir);
  return r.stdout.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '').filter((b) => b.startsWith(prefix));
}

void t.test('default network: one NIC exactly as planned, MAC and DHCP address in LDAP and ve show; owners share it', async (t) => {
  const a = await create(USER1, 'neta', []);
  const b = await create(USER2, 'netb', []);
  const record = readRecord(a);
  t.equal(record.nics?.length, 1, 'one NIC by default');
  const mac = record.nics?.[0]?.mac ?? '';
  t.match(mac, /^52:54(:[0-9a-f]{2}){4}$/, 'a locally administered MAC');
  t.not(readRecord(b).nics?.[0]?.mac, mac, 'another VE, another MAC');
  const xml = await virsh(['dumpxml', `pbsve-${a}`]);
  const interfaces = xml.match(/<interface type='network'>[\s\S]*?<\/interface>/g) ?? [];
  t.equal(interfaces.length, 1, 'dumpxml shows exactly one interface');
  t.match(interfaces[0] ?? '', new RegExp(`<mac address='${mac}'/>`), 'with the planned MAC');
  t.match(interfaces[0] ?? '', /<source network='pbsve-default'/, 'on the default network');
  t.match(interfaces[0] ?? '', /<target dev='s[0-9a-f]{4}n[0-9a-f]{8}'\/>/, 'host device named by pbs-ve');

  const shown = await show(USER1, 'neta');
  t.same(shown.ve.nics?.map((n) => [n.network, n.mac]), [['default', mac]], 've show --json: network and MAC from LDAP (running event)');
  const ipA = await waitForIp(USER1, 'neta');
  const ipB = await waitForIp(USER2, 'netb');
  t.comment(`DHCP address in LDAP: ${ipA.ip} after ${ipA.ms} ms of host reports; ${ipB.ip} after ${ipB.ms} ms`);
  t.not(ipA.ip, ipB.ip);
  const text = (await runVeAs(info, USER1, ['show', 'neta'])).stdout;
  t.match(text, new RegExp(`nic0:\\s+default\\s+${mac}\\s+${ipA.ip.replace(/\./g, '\\.')}`), 've show prints network, MAC and IP');
  t.match(readFileSync(join(findJobDir(info, a), 'console.log'), 'utf8'), new RegExp(`CT-MARKER: ip ${ipA.ip.replace(/\./g, '\\.')} on eth0`), 'the guest configured the leased address');
  await waitForGuestAddress(b, ipB.ip);
  t.ok(await ping(a, ipB.ip), 'VEs of different owners on the default network reach each other');

  for (const [user, name] of [[USER1, 'neta'], [USER2, 'netb']] as const) {
    const r = await runVeAs(info, user, ['destroy', name, '--wait', '60s']);
    t.equal(r.exitCode, 0, r.stderr);
  }
  t.match(await virsh(['net-list', '--name']), /pbsve-default/, 'the default network stays for the next VE');
});

void t.test('private networks: same owner and name reach each other, another owner\'s network of that name does not', async (t) => {
  const bridgesBefore = await bridges();
  const p1 = await create(USER1, 'priv1', ['--network', 'mine']);
  const p2 = await create(USER1, 'priv2', ['--network', 'mine']);
  t.equal(readRecord(p1).networks?.[0]?.bridge, readRecord(p2).networks?.[0]?.bridge, 'one bridge for one owner\'s network');
  const ip2 = await waitForIp(USER1, 'priv2');
  const ip1 = await waitForIp(USER1, 'priv1');
  await waitForGuestAddress(p2, ip2.ip);
  await waitForGuestAddress(p1, ip1.ip);
  t.ok(await ping(p1, ip2.ip), 'priv1 reaches priv2 (same owner, same network)');
  const gone = await runVeAs(info, USER1, ['destroy', 'priv2', '--wait', '60s']);
  t.equal(gone.exitCode, 0, gone.stderr);

  const q1 = await create(USER2, 'other1', ['--network', 'mine']);
  const r1 = readRecord(p1);
  const rq = readRecord(q1);
  t.equal(rq.networks?.[0]?.libvirtName, `pbsve-mine.${USER2 ?? 'root'}`, 'the other owner\'s network is its own');
  t.not(rq.networks?.[0]?.bridge, r1.networks?.[0]?.bridge, 'on another bridge');
  const ipQ = await waitForIp(USER2, 'other1');
  await waitForGuestAddress(q1, ipQ.ip);
  // each side first reaches its own network's host address: a "not reached" below is isolation, not a broken ping
  t.ok(await ping(p1, await findGateway(p1)), 'priv1 reaches its own network\'s host address');
  t.ok(await ping(q1, await findGateway(q1)), 'other1 reaches its own network\'s host address');
  t.notOk(await ping(p1, ipQ.ip), 'priv1 cannot reach the other owner\'s VE');
  t.notOk(await ping(q1, ip1.ip), 'nor the other way round');

  for (const [user, name] of [[USER1, 'priv1'], [USER2, 'other1']] as const) {
    const r = await runVeAs(info, user, ['destroy', name, '--wait', '60s']);
    t.equal(r.exitCode, 0, r.stderr);
  }
  const nets = await virsh(['net-list', '--all', '--name']);
  t.notMatch(nets, /pbsve-mine\./, 'private networks are removed with their last VE');
  t.same((await bridges()).filter((b) => !bridgesBefore.includes(b)), [], 'and their bridges');
});

void t.test('several NICs: declared and private networks in order, exact in dumpxml', async (t) => {
  const jobId = await create(USER1, 'multi', ['--network', 'lab', '--network', 'default', '--network', 'side']);
  const record = readRecord(jobId);
  const xml = await virsh(['dumpxml', `pbsve-${jobId}`]);
  const interfaces = xml.match(/<interface type='network'>[\s\S]*?<\/interface>/g) ?? [];
  t.same(interfaces.map((i) => /<source network='([^']+)'/.exec(i)?.[1]), ['pbsve-lab', 'pbsve-default', `pbsve-side.${USER1 ?? 'root'}`], 'three NICs, in order');
  t.same(interfaces.map((i) => /<mac address='([^']+)'/.exec(i)?.[1]), record.nics?.map((n) => n.mac), 'with the recorded MACs');
  const shown = await show(USER1, 'multi');
  t.same(shown.ve.nics?.map((n) => n.network), ['lab', 'default', 'side'], 've show lists them in order');
  const r = await runVeAs(info, USER1, ['destroy', 'multi', '--wait', '60s']);
  t.equal(r.exitCode, 0, r.stderr);
  const nets = await virsh(['net-list', '--all', '--name']);
  t.notMatch(nets, /pbsve-lab|pbsve-side/, 'declared and private networks go with their last VE');
});

void t.test('a QEMU VE: virtio NICs exactly as planned, its guest gets a DHCP address', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, USER1, ['create', 'vmnet', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--network', 'default', '--network', 'vmside']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, USER1, 'vmnet', 'running', 120_000);
  const record = readRecord(jobId);
  const xml = (await runCommand('virsh', ['-c', info.nodes['node1']?.qemuUri ?? '', 'dumpxml', `pbsve-${jobId}`], {})).stdout;
  const interfaces = xml.match(/<interface type='network'>[\s\S]*?<\/interface>/g) ?? [];
  t.same(interfaces.map((i) => /<mac address='([^']+)'/.exec(i)?.[1]), record.nics?.map((n) => n.mac), 'two NICs with the recorded MACs, in order');
  t.ok(interfaces.every((i) => i.includes("<model type='virtio'/>")), 'virtio');
  const ip = await waitFor('an IP for vmnet in LDAP', 180_000, async () => {
    await runCommand(process.execPath, [join(process.cwd(), 'dist/src/mom-hooks/report-main.js'), '--host', 'node1'], { env: { ...info.env, PBS_VE_CONFIG_DIR: info.hosts['node1']?.configDir ?? '' }, timeoutMs: 60_000 });
    const d = await show(USER1, 'vmnet');
    return d.ve.nics?.every((n) => n.ip !== undefined) === true ? d.ve.nics : undefined;
  }, 2000);
  t.comment(`QEMU TCG guest: DHCP addresses ${ip.map((n) => n.ip ?? '').join(', ')} in LDAP ${Date.now() - Date.parse(record.startedAt ?? '')} ms after the prologue began`);
  t.match(readFileSync(join(findJobDir(info, jobId), 'console.log'), 'utf8'), /VE-MARKER: ip \S+ on eth1/, 'the guest configured both NICs');
  const r = await runVeAs(info, USER1, ['destroy', 'vmnet', '--wait', '90s']);
  t.equal(r.exitCode, 0, r.stderr);
  t.notMatch(await virsh(['net-list', '--all', '--name']), /pbsve-vmside/, 'its private network is gone');
});

void t.test('hostile network specs are refused and leave nothing behind', async (t) => {
  const netsBefore = await virsh(['net-list', '--all', '--name']);
  const bridgesBefore = await bridges();
  const cases: [string[], RegExp][] = [
    [['--network', 'a', '--network', 'b', '--network', 'c', '--network', 'd', '--network', 'e'], /network: at most 4 networks/],
    [['--network', "x'/><interface>"], /network: must be 1-31 lower-case/],
    [['--network', 'Lab'], /network: /], [['--network', 'a.b'], /network: /], [['--network', '../x'], /network: /],
    [['--network', 'x'.repeat(40)], /network: /], [['--network', 'lab', '--network', 'lab'], /network: names the same network twice/],
  ];
  for (const [extra, expected] of cases) {
    const r = await runVeAs(info, USER1, ['create', 'hostile', '--type', 'lxc', '--image', 'tiny', ...extra]);
    t.equal(r.exitCode, 2, `exit 2 for ${extra.join(' ').slice(0, 60)}`);
    t.match(r.stderr, expected);
  }
  // past the CLI: a spec line with more NICs than the cluster allows, and with a forged network name
  const forged = [
    { name: 'f1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 32, leaseSeconds: 600, networks: ['a', 'b', 'c', 'd', 'e'] },
    { name: 'f2', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 32, leaseSeconds: 600, networks: ["x'/><interface type='bridge'"] },
  ];
  const jobs: string[] = [];
  for (const spec of forged) {
    const token = `v1.${Buffer.from(JSON.stringify(spec)).toString('base64url')}`;
    const script = `#!/bin/sh\n# pbs-ve spec ${token}\nPBS_VE_STATE_DIR=${join(info.dir, 'hosts/%h/state')} exec /bin/sh ${join(process.cwd(), 'scripts/job-body.sh')}\n`;
    const sb = await runCommand('sbatch', ['--parsable', '-p', 'batch', '-J', 've-forged', '--cpus-per-task=1', '--mem=32M', '--time=10', '--constraint=lxc', `--output=${join(dir, 'work', 'forged-%j.out')}`], { env: info.env, input: script });
    t.equal(sb.exitCode, 0, sb.stderr);
    jobs.push(sb.stdout.trim().split(';')[0] ?? '');
  }
  await waitFor('forged jobs to end', 120_000, async () => {
    const q = (await runCommand('squeue', ['-h', '-o', '%i'], { env: info.env })).stdout;
    return jobs.some((j) => q.split('\n').includes(j)) ? undefined : true;
  }, 500);
  for (const jobId of jobs) {
    const files = existsSync(findJobDir(info, jobId)) ? readdirSync(findJobDir(info, jobId)) : [];
    t.same(files.filter((f) => !isRefusalBookkeeping(f)), [], `job ${jobId}: nothing but the refusal note`);
    t.match(readFileSync(join(dir, 'work', `forged-${jobId}.out`), 'utf8'), /VE refused by the prologue: .*network/, `job ${jobId}: the owner is told why`);
  }
  t.equal(await virsh(['net-list', '--all', '--name']), netsBefore, 'no network was made');
  t.same((await bridges()).filter((b) => !bridgesBefore.includes(b)), [], 'no bridge was made');
  t.equal((await virsh(['list', '--all', '--name'])).trim(), '', 'no domain');
});
