// Issue 13 (cssh): guest identity (hostname, /etc/hosts, keys) in the spec, the cloud-init seed and an LXC
// rootfs copy (links the owner planted never followed), ve ssh's argv and ProxyCommand, the relay.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { validateHostEntries, parseAddHost, MAX_VE_HOSTS } from '../../src/core/validate-ve-hosts.js';
import { validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { buildCloudInitSeed } from '../../src/core/build-cloud-init-seed.js';
import { buildEtcHosts, buildGuestHostname } from '../../src/core/build-etc-hosts.js';
import { seedLxcGuest } from '../../src/host/seed-lxc-guest.js';
import { buildProxyCommand, buildRelayCommand, buildVeSshArgv, type VeSshTarget } from '../../src/qsub-wrappers/build-ve-ssh-argv.js';
import { createSlurmBatch } from '../../src/batch/slurm-batch.js';
import { createTorqueBatch, encodeCommandWord } from '../../src/batch/torque-batch.js';
import { runCommand } from '../../src/core/run-command.js';
import { connectToVe } from '../../src/host/relay-to-ve.js';
import { writeVeJobRecord, type VeJobRecord } from '../../src/host/ve-job-record.js';
import { readImageManifest, takesSshKeys } from '../../src/images/image-manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-vessh-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });

const field = (b: Buffer): Buffer => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
function makeKey(comment: string): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(der.subarray(der.length - 32))]).toString('base64')} ${comment}`;
}
const limits = { maxVcpus: 4, maxMemoryMiB: 4096, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
const base = { name: 'lab-head', type: 'lxc', image: 'tiny', vcpus: 1, memory: 64, lease: '1h' };

void t.test('hostname and /etc/hosts entries: hostile values refused, naming the field', (t) => {
  const spec = validateVeSpec({ ...base, hostname: 'head', hosts: [{ name: 'lab-c1', address: '10.99.0.11' }, { name: 'db.lab.example', address: '10.99.0.12' }] }, limits);
  t.equal(spec.hostname, 'head');
  t.same(spec.hosts, [{ name: 'lab-c1', address: '10.99.0.11' }, { name: 'db.lab.example', address: '10.99.0.12' }]);
  t.same(decodeVeSpec(encodeVeSpec(spec)), spec, 'hostname and hosts survive the job token');
  t.notOk('hosts' in validateVeSpec(base, limits), 'absent when unused: older tokens unchanged');
  for (const bad of ['a b', 'x\nroot', '-lead', 'a'.repeat(64), 'ünï', 'a.b', '']) {
    t.throws(() => validateVeSpec({ ...base, hostname: bad }, limits), { code: 'invalid-field', field: 'hostname' }, `hostname ${JSON.stringify(bad)}`);
  }
  const hostileNames = ['a b', 'x\n10.0.0.1 evil', 'host#c', 'a..b', '.a', `${'a'.repeat(63)}.${'b'.repeat(64)}`, 'a/b', ''];
  for (const name of hostileNames) t.throws(() => validateHostEntries([{ name, address: '10.0.0.1' }]), { field: 'add-host', message: /name must be a host name/ }, `name ${JSON.stringify(name)}`);
  for (const address of ['10.0.0.256', '10.0.0.1\n1.2.3.4 x', '::1', '10.0.0', ' 10.0.0.1', 'localhost']) {
    t.throws(() => validateHostEntries([{ name: 'a', address }]), { field: 'add-host', message: /IPv4/ }, `address ${JSON.stringify(address)}`);
  }
  t.throws(() => validateHostEntries(Array.from({ length: MAX_VE_HOSTS + 1 }, (_, i) => ({ name: `h${i}`, address: '10.0.0.1' }))), { field: 'add-host', message: /at most 256/ });
  t.throws(() => validateHostEntries('a=1.2.3.4'), { code: 'invalid-field', field: 'add-host' });
  t.same(parseAddHost('lab-c1=10.99.0.11'), { name: 'lab-c1', address: '10.99.0.11' });
  t.throws(() => parseAddHost('lab-c1'), { field: 'add-host', message: /NAME=A\.B\.C\.D/ });
  t.equal(buildGuestHostname({ name: 'web', hostname: 'head' }, 0), 'head');
  t.equal(buildGuestHostname({ name: 'web' }, 2), 'web-2');
  t.end();
});

void t.test('the cloud-init seed: hostname, keys, and /etc/hosts as one base64 write_files entry', (t) => {
  const key = makeKey('owner@submit');
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'lab-c1', sshKeys: [key], hosts: [{ name: 'lab-head', address: '10.99.0.10' }] });
  t.match(seed.metaData, /local-hostname: "lab-c1"/);
  const config = JSON.parse(seed.userData.replace(/^#cloud-config\n/, '')) as { hostname: string; ssh_authorized_keys: string[]; write_files: { path: string; encoding: string; content: string }[]; manage_etc_hosts: boolean };
  t.equal(config.hostname, 'lab-c1');
  t.same(config.ssh_authorized_keys, [key]);
  t.equal(config.manage_etc_hosts, false);
  t.equal(config.write_files[0]?.path, '/etc/hosts');
  const hosts = Buffer.from(config.write_files[0]?.content ?? '', 'base64').toString();
  t.equal(hosts, buildEtcHosts('lab-c1', [{ name: 'lab-head', address: '10.99.0.10' }]));
  t.match(hosts, /^127\.0\.1\.1 lab-c1$/m);
  t.match(hosts, /^10\.99\.0\.10 lab-head$/m);
  // the sandbox guest's init finds the content with one sed expression: a line of base64 only
  t.match(seed.userData, /^ *"content": "[A-Za-z0-9+/=]+"$/m);
  t.notOk('write_files' in (JSON.parse(buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'a', sshKeys: [] }).userData.slice(14)) as object), 'no hosts: cloud-init keeps its own /etc/hosts');
  t.throws(() => buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'a', sshKeys: [], hosts: [{ name: 'x y', address: '1.2.3.4' }] }), { code: 'invalid-field', field: 'add-host' }, 're-validated as root');
  t.end();
});

void t.test('an LXC rootfs copy gets hostname, /etc/hosts and root\'s keys; links the owner planted are never followed', (t) => {
  const key = makeKey('owner@submit');
  const seed = { hostname: 'lab-head', hosts: [{ name: 'lab-c1', address: '10.99.0.11' }], sshKeys: [key] };
  const rootfs = join(dir, 'rootfs1');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  seedLxcGuest(rootfs, undefined, seed);
  t.equal(readFileSync(join(rootfs, 'etc/hostname'), 'utf8'), 'lab-head\n');
  t.match(readFileSync(join(rootfs, 'etc/hosts'), 'utf8'), /^10\.99\.0\.11 lab-c1$/m);
  t.equal(readFileSync(join(rootfs, 'root/.ssh/authorized_keys'), 'utf8'), `${key}\n`);
  t.equal(statSync(join(rootfs, 'root/.ssh')).mode & 0o777, 0o700);
  t.equal(statSync(join(rootfs, 'root/.ssh/authorized_keys')).mode & 0o777, 0o600);

  // a file link: replaced, the host file it pointed at untouched
  const secret = join(dir, 'host-secret');
  writeFileSync(secret, 'host file\n');
  const rootfs2 = join(dir, 'rootfs2');
  mkdirSync(join(rootfs2, 'etc'), { recursive: true });
  symlinkSync(secret, join(rootfs2, 'etc/hosts'));
  symlinkSync(secret, join(rootfs2, 'etc/hostname'));
  seedLxcGuest(rootfs2, undefined, seed);
  t.equal(readFileSync(secret, 'utf8'), 'host file\n', 'nothing written through the links');
  t.ok(lstatSync(join(rootfs2, 'etc/hosts')).isFile(), 'the link replaced by the VE\'s own file');

  // a directory link (etc -> a host directory, root/.ssh -> a host directory): refused, nothing written there
  const hostDir = join(dir, 'host-etc');
  mkdirSync(hostDir);
  const rootfs3 = join(dir, 'rootfs3');
  mkdirSync(rootfs3);
  symlinkSync(hostDir, join(rootfs3, 'etc'));
  t.throws(() => { seedLxcGuest(rootfs3, undefined, seed); }, { code: 'guest-path-unsafe', message: /\/etc .*not a directory/ });
  const rootfs4 = join(dir, 'rootfs4');
  mkdirSync(join(rootfs4, 'root'), { recursive: true });
  symlinkSync(hostDir, join(rootfs4, 'root/.ssh'));
  t.throws(() => { seedLxcGuest(rootfs4, undefined, seed); }, { code: 'guest-path-unsafe', message: /root\/\.ssh/ });
  t.throws(() => readFileSync(join(hostDir, 'authorized_keys')), { code: 'ENOENT' }, 'no key file in the host directory');
  t.throws(() => { seedLxcGuest(rootfs, undefined, { ...seed, hostname: 'a\nb' }); }, { code: 'invalid-field', field: 'hostname' });
  t.end();
});

void t.test('images: "ssh": true takes keys like cloud-init; sshUser is a login name', (t) => {
  const images = join(dir, 'images');
  mkdirSync(join(images, 'r'), { recursive: true });
  writeFileSync(join(images, 'a.json'), JSON.stringify({ name: 'a', type: 'lxc', format: 'dir', path: 'r', ssh: true, sshUser: 'admin' }));
  writeFileSync(join(images, 'b.json'), JSON.stringify({ name: 'b', type: 'lxc', format: 'dir', path: 'r' }));
  writeFileSync(join(images, 'c.json'), JSON.stringify({ name: 'c', type: 'lxc', format: 'dir', path: 'r', ssh: true, sshUser: '-oProxyCommand=x' }));
  const a = readImageManifest(images, 'a');
  t.ok(takesSshKeys(a));
  t.equal(a.sshUser, 'admin');
  t.notOk(takesSshKeys(readImageManifest(images, 'b')));
  t.throws(() => readImageManifest(images, 'c'), { code: 'invalid-image', field: 'sshUser' });
  t.end();
});

const relay = buildRelayCommand({ jobId: '42', nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', hostConfigDir: '/srv/hosts/%h/etc/pbs-ve' });
const attachRequest = { jobId: '42', host: 'node1', queue: 'veop', name: 'vessh-lab-head', memoryMiB: 64, walltimeSeconds: 3000, command: relay };
const target: VeSshTarget = {
  jobId: '42', host: 'node1', name: 'lab-head', user: 'root', nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve',
  attach: createSlurmBatch({ run: () => Promise.reject(new Error('no command runs')) }).buildAttachCommand(attachRequest),
  knownHostsFile: '/home/u/.ssh/pbs-ve_known_hosts', command: ['hostname'],
};

void t.test('ve ssh: the argv ssh gets, a ProxyCommand that is a step in the VE\'s own job (Slurm)', (t) => {
  const argv = buildVeSshArgv(target);
  t.same(argv.slice(-3), ['--', 'lab-head.42.pbs-ve', 'hostname'], 'the command after --, the host key alias names the job');
  t.ok(argv.includes('StrictHostKeyChecking=accept-new'));
  t.ok(argv.includes('UserKnownHostsFile=/home/u/.ssh/pbs-ve_known_hosts'));
  t.same(argv.slice(argv.indexOf('-l'), argv.indexOf('-l') + 2), ['-l', 'root']);
  const proxy = buildProxyCommand(target);
  t.equal(proxy, "'setsid' '--fork' 'srun' '--jobid=42' '--overlap' '--nodes=1' '--ntasks=1' '--nodelist=node1' '--unbuffered' '--quiet' '--mem=0' "
    + "'env' 'PBS_VE_CONFIG_DIR=/srv/hosts/%%h/etc/pbs-ve' '/usr/bin/node' '/opt/pbs-ve/dist/src/qsub-wrappers/main.js' 'relay' '--job' '42' '--port' '22'",
  'every word quoted, "%" doubled for ssh, no exec (ssh adds it)');
  t.equal(argv[argv.indexOf('-o') + 1], `ProxyCommand=${proxy}`);
  for (const [key, value] of [['nodePath', '/usr/bin/node $(id)'], ['installDir', '/opt/a\nb']] as const) {
    t.throws(() => buildProxyCommand({ ...target, attach: { ...target.attach, terminal: true }, [key]: value }), { code: 'unsafe-proxy-word' }, `${key} ${JSON.stringify(value)} refused`);
  }
  const slurm = createSlurmBatch({ run: () => Promise.reject(new Error('no command runs')) });
  for (const [key, value] of [['host', 'node1 -w x'], ['jobId', '42;id']] as const) {
    t.throws(() => slurm.buildAttachCommand({ ...attachRequest, [key]: value }), { code: 'invalid-field' }, `${key} ${JSON.stringify(value)} refused`);
  }
  for (const word of ["/srv/x'; rm -rf /", 'a b', '$(id)', 'x\ny']) {
    t.throws(() => slurm.buildAttachCommand({ ...attachRequest, command: [...relay, word] }), { code: 'invalid-field', field: 'command' }, `word ${JSON.stringify(word)} refused`);
  }
  t.throws(() => slurm.buildAttachCommand({ ...attachRequest, command: ['--export=x', 'a'] }), { code: 'invalid-field', field: 'command' }, 'no option first');
  t.end();
});

void t.test('ve ssh on TORQUE: an interactive one-slot job on the VE\'s host, behind ve relay-client', (t) => {
  const torque = createTorqueBatch({ run: () => Promise.reject(new Error('no command runs')), binDir: '/opt/torque/bin', commandScript: '/opt/pbs-ve/scripts/exec-command.sh' });
  const attach = torque.buildAttachCommand({ ...attachRequest, jobId: '42.vm', queue: 'batch', command: buildRelayCommand({ jobId: '42.vm', nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', hostConfigDir: '/srv/hosts/%h/etc/pbs-ve' }) });
  t.ok(attach.terminal, 'the relay\'s end is qsub\'s pty');
  t.same(attach.argv, ['/opt/torque/bin/qsub', '-N', 'vessh-lab-head', '-q', 'batch', '-l', 'nodes=node1:ppn=1,mem=64mb,walltime=00:50:00', '-S', '/bin/sh',
    '-v', ['PBS_VE_ARGC=9', 'PBS_VE_ARG_1=env', 'PBS_VE_ARG_2=PBS_VE_CONFIG_DIR@3D/srv/hosts/@25h/etc/pbs-ve', 'PBS_VE_ARG_3=/usr/bin/node',
      'PBS_VE_ARG_4=/opt/pbs-ve/dist/src/qsub-wrappers/main.js', 'PBS_VE_ARG_5=relay', 'PBS_VE_ARG_6=--job', 'PBS_VE_ARG_7=42.vm', 'PBS_VE_ARG_8=--port', 'PBS_VE_ARG_9=22'].join(','),
    '-I', '-x', '/opt/pbs-ve/scripts/exec-command.sh'], 'one slot on the VE\'s host, like an op job; the words as job variables (qsub -x runs one word)');
  const proxy = buildProxyCommand({ ...target, jobId: '42.vm', attach });
  t.match(proxy, /^'\/usr\/bin\/node' '\/opt\/pbs-ve\/dist\/src\/qsub-wrappers\/main\.js' 'relay-client' '--' '\/opt\/torque\/bin\/qsub' /);
  t.throws(() => createTorqueBatch({ run: () => Promise.reject(new Error('x')) }).buildAttachCommand({ ...attachRequest, jobId: '42;id' }), { code: 'invalid-field', field: 'jobId' });
  t.throws(() => createTorqueBatch({ run: () => Promise.reject(new Error('x')) }).buildAttachCommand({ ...attachRequest, jobId: '42.vm' }), { code: 'attach-unsupported' });
  t.throws(() => torque.buildAttachCommand({ ...attachRequest, jobId: '42.vm', host: 'node1:ppn=64' }), { code: 'invalid-field', field: 'nodeList' });
  t.end();
});

void t.test('scripts/exec-command.sh runs exactly the words the TORQUE adapter encoded', async (t) => {
  const words = ['printf', '[%s]', 'a=b,c', '@40@25', '100%', '--x', '@'];
  const env: Record<string, string> = { PBS_VE_ARGC: String(words.length) };
  words.forEach((w, i) => { env[`PBS_VE_ARG_${i + 1}`] = encodeCommandWord(w); });
  const r = await runCommand(join(process.cwd(), 'scripts/exec-command.sh'), [], { env });
  t.equal(r.stdout, '[a=b,c][@40@25][100%][--x][@]');
  t.equal(r.exitCode, 0);
  const bad = await runCommand(join(process.cwd(), 'scripts/exec-command.sh'), [], { env: { PBS_VE_ARGC: '1;id' } });
  t.not(bad.exitCode, 0, 'a count that is no number runs nothing');
});

void t.test('ve relay: finds nic0\'s leased address, connects, and refuses another owner', async (t) => {
  const server = createServer((s) => { s.end('SSH-2.0-fake\r\n'); });
  await new Promise<void>((r) => { server.listen(0, '127.0.0.1', r); });
  t.teardown(() => { server.close(); });
  const port = (server.address() as { port: number }).port;
  const stateDir = join(dir, 'state');
  const record = {
    jobId: '42', owner: 'alice', host: 'node1', domain: 'pbsve-42', uri: 'lxc:///', roUri: 'lxc:///ro', startCount: 1, status: 'realized', reason: '', emulated: false,
    spec: { version: 1, name: 'lab-head', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 3600 },
    nics: [{ network: 'default', mac: '52:54:00:00:00:01' }],
    networks: [{ name: 'default', kind: 'default', libvirtName: 'pbsve-default', bridge: 'br0', managed: true, subnetPool: '10.0.0.0/16' }],
  } as unknown as VeJobRecord;
  writeVeJobRecord(stateDir, record);
  let asked = 0;
  const deps = {
    stateDir, host: 'node1', user: 'alice', now: () => 0, sleep: () => Promise.resolve(),
    readLeases: (uri: string, net: string) => { asked++; t.equal(uri, 'lxc:///ro'); t.equal(net, 'pbsve-default'); return Promise.resolve([{ mac: '52:54:00:00:00:01', ip: '127.0.0.1' }]); },
  };
  const socket = await connectToVe('42', port, 1000, deps);
  const banner = await new Promise<string>((r) => { socket.once('data', (d: Buffer) => { r(d.toString()); }); });
  t.equal(banner, 'SSH-2.0-fake\r\n');
  socket.destroy();
  t.equal(asked, 1);
  await t.rejects(connectToVe('42', port, 1000, { ...deps, user: 'mallory' }), { code: 'permission-denied' });
  await t.rejects(connectToVe('43', port, 1000, deps), { code: 've-not-here' });
  let clock = 0;
  await t.rejects(connectToVe('42', port, 1000, { ...deps, now: () => (clock += 600), readLeases: () => Promise.resolve([]) }), { code: 've-unreachable', message: /no DHCP lease/ });
});
