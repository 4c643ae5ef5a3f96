// ve ssh for real (issue 13, cssh; backends: slurm torque): an LXC VE and a QEMU VE created with the owner's
// key, a hostname and /etc/hosts entries; `ve ssh NAME -- hostname` through a relay the batch system runs for
// the owner on the VE's host (Slurm: a step in the VE's job; TORQUE: an interactive one-slot job, qsub -I);
// 1 MiB of random bytes through `ve ssh -- cat` unchanged; another user is refused by ve and on the host (by
// Slurm, or by the relay on TORQUE); VEs not running or without SSH are refused.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openBatch } from '../../src/config/open-adapters.js';
import { buildRelayCommand } from '../../src/qsub-wrappers/build-ve-ssh-argv.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs } from '../../src/sandbox/run-demo.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { ensureUserSshKey } from '../harness/ensure-user-ssh-key.js';
import { sshUntilAnswer } from '../harness/ssh-until-answer.js';
import { findJobDir } from '../harness/sandbox-host-files.js';

const OTHER = 'pbsve-user2';
let info: SandboxInfo;
useSandbox(t, { prefix: '/tmp/pbsve-vessh-', verbose: true, users: [OTHER], ready: (started) => { info = started; } });

const home = (user: string): string => `/home/${user}`;

async function createVe(args: readonly string[]): Promise<{ jobId: string; at: number }> {
  const at = Date.now();
  const r = await runVeAs(info, DEMO_USER, ['create', ...args, '--wait', '5m']);
  if (r.exitCode !== 0) throw new Error(`ve create ${args.join(' ')}: ${r.stderr}`);
  return { jobId: r.stdout.trim().split('\n')[0] ?? '', at };
}

void t.test('an LXC VE with the owner\'s key: ve ssh reaches it as root; hostname and /etc/hosts as asked; others refused', async (t) => {
  const pub = await ensureUserSshKey(DEMO_USER);
  await ensureUserSshKey(OTHER);
  const ve = await createVe(['sshc', '--type', 'lxc', '--image', 'tiny', '--ssh-key', pub, '--hostname', 'lab-head', '--add-host', 'lab-c1=10.99.0.11', '--add-host', 'lab-c2=10.99.0.12']);
  const record = JSON.parse(readFileSync(join(findJobDir(info, ve.jobId), 've.json'), 'utf8')) as { domain: string; host: string };
  t.ok(record.domain, 'the VE is realized');
  const rootfs = join(findJobDir(info, ve.jobId), 'private', 'rootfs');
  t.equal(readFileSync(join(rootfs, 'root/.ssh/authorized_keys'), 'utf8'), readFileSync(pub, 'utf8'), 'the key seeded into the rootfs copy');
  const first = await sshUntilAnswer(info, DEMO_USER, 'sshc', ['hostname'], 120_000);
  t.equal(first.stdout.trim(), 'lab-head', 'the guest has the hostname asked for');
  t.comment(`LXC: ve create started -> first successful ve ssh: ${Date.now() - ve.at} ms (${first.tries} tries, first ssh took ${first.ms} ms)`);
  const hosts = await runVeAs(info, DEMO_USER, ['ssh', 'sshc', '--', 'cat', '/etc/hosts']);
  t.equal(hosts.exitCode, 0, hosts.stderr);
  t.match(hosts.stdout, /^10\.99\.0\.11 lab-c1$/m);
  t.match(hosts.stdout, /^10\.99\.0\.12 lab-c2$/m);
  t.match(hosts.stdout, /^127\.0\.1\.1 lab-head$/m);
  const who = await runVeAs(info, DEMO_USER, ['ssh', 'sshc', '--', 'id', '-u']);
  t.equal(who.stdout.trim(), '0', 'root inside (an unprivileged id of the VE\'s range on the host)');
  t.equal(who.stderr, '', 'nothing on stderr: the relay ends quietly with the session (no "STEP CANCELLED", no "Killed", no qsub lines)');
  // Debian's ssh_config hashes known_hosts entries: ask ssh-keygen for the alias
  const known = await runCommand('ssh-keygen', ['-F', `sshc.${ve.jobId}.pbs-ve`, '-f', join(home(DEMO_USER), '.ssh', 'pbs-ve_known_hosts')], { timeoutMs: 20_000 });
  t.match(known.stdout, /ssh-ed25519 /, 'the host key is kept under the VE job\'s alias');

  // 8-bit clean both ways: 1 MiB of random bytes through the guest's cat and back (TORQUE: qsub's pty and escapes)
  const data = randomBytes(1024 * 1024);
  const file = join(info.dir, 'work', 'random.bin');
  writeFileSync(file, data);
  chmodSync(file, 0o644);
  const veMain = join(process.cwd(), 'dist/src/qsub-wrappers/main.js');
  const tripAt = Date.now();
  const trip = await runCommand('runuser', ['-u', DEMO_USER, '--', 'sh', '-c', '"$0" "$1" ssh sshc -- cat < "$2" | sha256sum', process.execPath, veMain, file],
    { env: { ...info.env, HOME: join(info.dir, 'work') }, cwd: join(info.dir, 'work'), timeoutMs: 300_000 });
  t.equal(trip.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'), `1 MiB round trip unchanged ${trip.stderr}`);
  t.comment(`1 MiB through ve ssh sshc -- cat and back on ${info.batch}: ${Date.now() - tripAt} ms`);

  // ve ssh NAME -- true, five times: the whole cost of a session (ssh, the batch system's relay, the guest's sshd)
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const at = Date.now();
    const r = await runVeAs(info, DEMO_USER, ['ssh', 'sshc', '--', 'true']);
    t.equal(r.exitCode, 0, r.stderr);
    times.push(Date.now() - at);
  }
  times.sort((a, b) => a - b);
  t.comment(`ve ssh sshc -- true on ${info.batch}: p50 ${times[2] ?? 0} ms (all: ${times.join(', ')} ms)`);

  // another user: refused by ve, and on the VE's host when they try the batch system's way themselves
  const other = await runVeAs(info, OTHER, ['ssh', 'sshc', '--', 'hostname']);
  t.equal(other.exitCode, 2);
  t.match(other.stderr, /VE "sshc" is pbsve-user1's, not yours/);
  if (info.batch === 'slurm') {
    const step = await runCommand('runuser', ['-u', OTHER, '--', 'srun', `--jobid=${ve.jobId}`, '--overlap', '-N1', '-n1', 'true'], { env: info.env, timeoutMs: 60_000 });
    t.not(step.exitCode, 0, 'Slurm refuses a step in another owner\'s job');
    t.match(step.stderr, /denied|not authorized|Invalid user/i);
  } else {
    // TORQUE runs anyone's interactive job on the host: the relay in it refuses a VE that is not its user's
    const config = loadConfig(info.configDir);
    const attach = openBatch(config).buildAttachCommand({
      jobId: ve.jobId, host: record.host, queue: 'batch', name: 'intruder', memoryMiB: 64, walltimeSeconds: 120,
      command: buildRelayCommand({ jobId: ve.jobId, nodePath: config.nodePath, installDir: config.installDir, hostConfigDir: config.hostConfigDir ?? info.configDir }),
    });
    const intruder = await runCommand('runuser', ['-u', OTHER, '--', process.execPath, veMain, 'relay-client', '--', ...attach.argv], { env: info.env, timeoutMs: 120_000, input: '' });
    t.not(intruder.exitCode, 0, 'no session for another owner');
    t.match(intruder.stderr, /permission-denied: job \S+: the VE is pbsve-user1's, not yours/);
  }

  const destroyed = await runVeAs(info, DEMO_USER, ['destroy', 'sshc', '--wait', '2m']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  const gone = await runVeAs(info, DEMO_USER, ['ssh', 'sshc', '--', 'hostname']);
  t.equal(gone.exitCode, 2);
  t.match(gone.stderr, /is destroyed, not running/);
});

void t.test('an image that declares no SSH server: ve ssh refuses, naming the image', async (t) => {
  const manifest = JSON.parse(readFileSync(join(info.dir, 'images', 'tiny.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(info.dir, 'images', 'tinynossh.json'), JSON.stringify({ ...manifest, name: 'tinynossh', ssh: false }));
  await createVe(['nossh', '--type', 'lxc', '--image', 'tinynossh']);
  const r = await runVeAs(info, DEMO_USER, ['ssh', 'nossh', '--', 'hostname']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /image "tinynossh", which declares no SSH server/);
  const keyed = await runVeAs(info, DEMO_USER, ['create', 'nossh2', '--type', 'lxc', '--image', 'tinynossh', '--ssh-key', join(home(DEMO_USER), '.ssh', 'id_ed25519.pub')]);
  t.equal(keyed.exitCode, 2);
  t.match(keyed.stderr, /ssh-key: image "tinynossh" does not read a cloud-init seed .*declares no SSH server/);
  await runVeAs(info, DEMO_USER, ['destroy', 'nossh']);
});

void t.test('a QEMU VE of a cloud-init image: keys, hostname and /etc/hosts from the seed; ve ssh reaches it', async (t) => {
  if (!info.images.includes('tinyvm')) {
    t.plan(0, `no QEMU image: ${info.imageProblem ?? '?'}`);
    return;
  }
  const images = join(info.dir, 'images', 'tinyvm');
  const added = await runVeAs({ ...info, env: info.vemonEnv }, undefined, ['image', 'add', 'tinyci', join(images, 'base.qcow2'), '--type', 'kvm', '--kernel', join(images, 'vmlinuz'),
    '--initrd', join(images, 'initramfs.cpio.gz'), '--cmdline', 'console=ttyS0 panic=-1', '--os', 'busybox', '--cloud-init']);
  t.equal(added.exitCode, 0, added.stderr);
  const pub = await ensureUserSshKey(DEMO_USER);
  const ve = await createVe(['sshq', '--type', 'kvm', '--image', 'tinyci', '--memory', '128', '--ssh-key', pub, '--add-host', 'lab-head=10.99.0.10']);
  const first = await sshUntilAnswer(info, DEMO_USER, 'sshq', ['hostname', ';', 'cat', '/etc/hosts'], 240_000);
  t.match(first.stdout, /^sshq$/m, 'the hostname from the seed');
  t.match(first.stdout, /^10\.99\.0\.10 lab-head$/m, '/etc/hosts from the seed');
  t.comment(`QEMU (${info.batch}): ve create started -> first successful ve ssh: ${Date.now() - ve.at} ms (${first.tries} tries, ${first.ms} ms after running)`);
  await runVeAs(info, DEMO_USER, ['destroy', 'sshq', '--wait', '2m']);
});
