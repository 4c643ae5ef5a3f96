// Cloud-init first boot for real: a --cloud-init catalog image, `ve create --ssh-key`, a QEMU (TCG) guest
// that finds the NoCloud seed (the disk labelled cidata) and prints what it read; hostile keys refused.
// The guest is the sandbox's tinyvm (scripts/sandbox/make-qemu-image.sh), whose init reports the seed.
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { buildCloudInitSeed } from '../../src/core/build-cloud-init-seed.js';
import { createVeSeedWriter } from '../../src/host/ve-seed.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findJobDir, isRefusalBookkeeping } from '../harness/sandbox-host-files.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-cloudinit-', verbose: true,
  ready: (started) => {
    info = started;
  },
});
let info: SandboxInfo;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

// One SSH wire field: a 32-bit big-endian length, then the bytes.
function wireField(b: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(b.length);
  return Buffer.concat([length, b]);
}

// A real ed25519 public key line (OpenSSH wire format), made without ssh-keygen.
function makeEd25519KeyLine(comment: string): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(der.length - 32);
  return `ssh-ed25519 ${Buffer.concat([wireField(Buffer.from('ssh-ed25519')), wireField(raw)]).toString('base64')} ${comment}`;
}

// Files the user hands to ve create: in the sandbox's work dir, readable by the demo user.
function writeUserFile(name: string, text: string): string {
  const path = join(dir, 'work', name);
  writeFileSync(path, text);
  chmodSync(path, 0o644);
  return path;
}

async function allDomains(): Promise<string> {
  let out = '';
  for (const node of Object.values(info.nodes)) out += (await runCommand('virsh', ['-c', node.qemuUri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
  return out.split('\n').filter((l) => l.trim() !== '').sort().join('\n');
}

async function squeue(): Promise<string> {
  return (await runCommand('squeue', ['-h', '-o', '%i %j %T'], { env: info.env })).stdout;
}

// VE jobs only: event jobs (pbsve-events) of earlier VEs come and go on their own
async function listVeJobs(): Promise<string> {
  return (await squeue()).split('\n').filter((l) => / ve-/.test(l)).join('\n');
}

function readRecord(jobId: string): VeJobRecord {
  return JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord;
}

// Patterns end in \n where the test reads the rest of the line: the console file may hold half a line
// (and its lines end in \r\n, which "." does not match: hence [^\n]*).
async function waitForText(path: string, pattern: RegExp, timeoutMs: number): Promise<{ at: number; text: string }> {
  return waitFor(`${pattern.source} in ${path}`, timeoutMs, () => {
    try {
      const text = readFileSync(path, 'utf8');
      return pattern.test(text) ? { at: Date.now(), text } : undefined;
    } catch {
      return undefined;
    }
  }, 20);
}

// The guest prints the uptime before and after its seed block: the time reading the seed adds to boot.
function readSeedSeconds(consoleText: string): number | undefined {
  const m = /VE-MARKER: seed .*uptime=([0-9.]+)->([0-9.]+)/.exec(consoleText);
  return m?.[1] === undefined || m[2] === undefined ? undefined : Number(m[2]) - Number(m[1]);
}

const readInitUptime = (consoleText: string): string | undefined => /VE-MARKER: init started, uptime=([0-9.]+)/.exec(consoleText)?.[1];

// The <disk> elements of a domain, in document order (= the order the guest enumerates them).
function listDisks(xml: string): { source: string; target: string; readonly: boolean }[] {
  return [...xml.matchAll(/<disk\b[^>]*>([\s\S]*?)<\/disk>/g)].map((m) => ({
    source: /<source file='([^']*)'/.exec(m[1] ?? '')?.[1] ?? '',
    target: /<target dev='([^']*)'/.exec(m[1] ?? '')?.[1] ?? '',
    readonly: /<readonly\/>/.test(m[1] ?? ''),
  }));
}

void t.test('seed build time (genisoimage, as the prologue runs it)', async (t) => {
  const write = createVeSeedWriter();
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: 'timing', sshKeys: [makeEd25519KeyLine('a@b')] });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const jobDir = mkdtempSync(join(dir, 'seedtime-'));
    const started = process.hrtime.bigint();
    const iso = await write(jobDir, seed);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    t.ok(existsSync(iso));
    t.same(readdirSync(jobDir), ['seed.iso'], 'only the ISO stays, the staging dir is gone');
  }
  t.comment(`seed build (write meta-data/user-data + genisoimage): ${times.map((x) => x.toFixed(1)).join(', ')} ms`);
});

void t.test('a --cloud-init image: the guest reads its hostname and the owner\'s key from the seed; the seed is the last, read-only disk and goes with the VE', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const images = join(dir, 'images', 'tinyvm');
  // the administrator registers the sandbox's tiny guest a second time, as a cloud-init image, from the vemon node
  const admin = { ...info, env: info.vemonEnv };
  const added = await runVeAs(admin, undefined, ['image', 'add', 'tinyci', join(images, 'base.qcow2'), '--type', 'kvm', '--kernel', join(images, 'vmlinuz'),
    '--initrd', join(images, 'initramfs.cpio.gz'), '--cmdline', 'console=ttyS0 panic=-1', '--os', 'busybox', '--cloud-init']);
  t.equal(added.exitCode, 0, added.stderr);
  t.match(added.stdout, /cloud-init\) added/);
  t.match(added.stdout, /recorded in LDAP/);
  const ldif = await runCommand('ldapsearch', ['-x', '-LLL', '-H', info.ldapUrl, '-b', `ou=images,${info.baseDn}`, '(pbsveImageName=tinyci)', 'pbsveCloudInit'], { timeoutMs: 20_000 });
  t.match(ldif.stdout, /pbsveCloudInit: TRUE/, 'LDAP says the image reads a seed');
  const listed = JSON.parse((await runVeAs(info, user, ['image', 'list', '--json'])).stdout) as { name: string; cloudInit?: boolean }[];
  t.equal(listed.find((r) => r.name === 'tinyci')?.cloudInit, true, 've image list says so');
  t.equal(listed.find((r) => r.name === 'tinyvm')?.cloudInit, undefined);
  t.match((await runVeAs(info, user, ['image', 'list'])).stdout, /^tinyci\s+kvm\+cloud-init\s/m);
  const lxcCi = await runVeAs(admin, undefined, ['image', 'add', 'tinyci2', join(dir, 'images', 'tiny.rootfs'), '--type', 'lxc', '--cloud-init']);
  t.equal(lxcCi.exitCode, 2);
  t.match(lxcCi.stderr, /cloud-init: is for kvm images only/);

  const comment = 'owner@laptop';
  const keyFile = writeUserFile('id_test.pub', `${makeEd25519KeyLine(comment)}\n`);

  // baseline: the plain image gets no seed, so its guest finds none
  // (the same size and data disk as the cloud-init VE below, so the boot times compare)
  const plain = await runVeAs(info, user, ['create', 'plain1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--disk', '16M']);
  t.equal(plain.exitCode, 0, plain.stderr);
  const plainJob = plain.stdout.trim();
  const plainLog = join(findJobDir(info, plainJob), 'console.log');
  const plainSeen = await waitForText(plainLog, /VE-MARKER: seed none [^\n]*\n/, 180_000);
  const plainStarted = Date.parse(readRecord(plainJob).startedAt ?? '');
  await waitForLdapState(info, user, 'plain1', 'running', 180_000);
  const plainXml = (await runCommand('virsh', ['-c', info.nodes[readRecord(plainJob).host]?.qemuUri ?? '', 'dumpxml', `pbsve-${plainJob}`], {})).stdout;
  t.same(listDisks(plainXml).map((d) => d.target), ['vda', 'vdb'], 'no seed disk for an image without cloud-init');
  t.equal((await runVeAs(info, user, ['destroy', 'plain1', '--wait', '3m'])).exitCode, 0);

  const created = await runVeAs(info, user, ['create', 'ci1', '--type', 'kvm', '--image', 'tinyci', '--memory', '128', '--disk', '16M', '--ssh-key', keyFile]);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  const consoleLog = join(findJobDir(info, jobId), 'console.log');
  const seen = await waitForText(consoleLog, /VE-MARKER: seed ssh-keys=[^\n]*\n/, 180_000);
  await waitForLdapState(info, user, 'ci1', 'running', 180_000);
  const record = readRecord(jobId);
  t.match(seen.text, /VE-MARKER: seed hostname=ci1 device=vdc /, 'the guest found the seed on vdc (after vda and the data disk vdb) and took the VE name as hostname');
  t.match(seen.text, new RegExp(`VE-MARKER: seed ssh-keys=1 first-comment=${comment}`), 'and the owner\'s key');
  t.match(seen.text, /VE-MARKER: disk vdb 32768 sectors/, 'the data disk keeps its name');
  const started = Date.parse(record.startedAt ?? '');
  t.comment(`prologue start -> guest has read its seed: ${seen.at - started} ms (cloud-init image) vs -> "seed none": ${plainSeen.at - plainStarted} ms (plain image); poll 20 ms`);
  t.comment(`guest uptime at "init started" (kernel boot, no seed involved yet: the noise floor): ${readInitUptime(seen.text) ?? '?'} s vs ${readInitUptime(plainSeen.text) ?? '?'} s`);
  t.comment(`guest time in the seed block (findfs + mount + read): ${readSeedSeconds(seen.text)?.toFixed(2) ?? '?'} s with a seed, ${readSeedSeconds(plainSeen.text)?.toFixed(2) ?? '?'} s without`);

  const out = await runVeAs(info, user, ['console', 'ci1', '--lines', '500']);
  t.match(out.stdout, /VE-MARKER: seed hostname=ci1/, 've console shows the seed marker');

  const xml = (await runCommand('virsh', ['-c', info.nodes[record.host]?.qemuUri ?? '', 'dumpxml', `pbsve-${jobId}`], {})).stdout;
  const disks = listDisks(xml);
  t.same(disks.map((d) => d.target), ['vda', 'vdb', 'vdc'], 'overlay, data disk, seed');
  t.same(disks.at(-1), { source: join(findJobDir(info, jobId), 'seed.iso'), target: 'vdc', readonly: true }, 'the seed is the last disk, read-only');
  t.notOk(disks.slice(0, -1).some((d) => d.readonly), 'the other disks are writable');
  t.ok(existsSync(join(findJobDir(info, jobId), 'seed.iso')), 'the seed is a per-VE file in the job dir');

  // internal snapshots need every writable disk in qcow2: the raw seed must stay out of them
  const snap = await runVeAs(info, user, ['snapshot', 'ci1', '--name', 's1'], 300_000);
  t.equal(snap.exitCode, 0, `a snapshot of a VE with a seed works: ${snap.stderr}`);
  t.comment(`ve snapshot of the cloud-init VE: ${snap.stdout.trim()}`);

  const destroyed = await runVeAs(info, user, ['destroy', 'ci1', '--wait', '3m']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.notMatch(await allDomains(), new RegExp(`pbsve-${jobId}`), 'domain gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'seed.iso')), 'seed gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'seed')), 'no staging dir left');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'data-1.qcow2')), 'data disk gone');

  // the largest spec: four RSA 4096 sized keys make a token of about 6 KiB in sbatch --comment and --export
  const rsa = (): string => `ssh-rsa ${Buffer.concat([wireField(Buffer.from('ssh-rsa')), wireField(Buffer.from([1, 0, 1])), wireField(Buffer.concat([Buffer.from([0]), randomBytes(512)]))]).toString('base64')} user@a-rather-long-host-name.example.org`;
  const fourKeys = writeUserFile('four.pub', `${[rsa(), rsa(), rsa(), rsa()].join('\n')}\n`);
  const big = await runVeAs(info, user, ['create', 'big1', '--type', 'kvm', '--image', 'tinyci', '--memory', '96', '--ssh-key', fourKeys, '--json']);
  t.equal(big.exitCode, 0, big.stderr);
  const bigJob = (JSON.parse(big.stdout) as { jobId: string }).jobId;
  const bigSeen = await waitForText(join(findJobDir(info, bigJob), 'console.log'), /VE-MARKER: seed ssh-keys=[^\n]*\n/, 180_000);
  t.match(bigSeen.text, /VE-MARKER: seed ssh-keys=4 first-comment=user@a-rather-long-host-name.example.org/, 'all four keys reached the guest');
  const listedBig = JSON.parse((await runVeAs(info, user, ['list', '--json'])).stdout) as { name: string }[];
  t.ok(listedBig.some((r) => r.name === 'big1'), 've list decodes the big spec');
  t.equal((await runVeAs(info, user, ['destroy', 'big1', '--wait', '3m'])).exitCode, 0);
});

void t.test('hostile SSH keys and keys for images without cloud-init are refused, leaving nothing behind', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const queueBefore = await listVeJobs();
  const good = makeEd25519KeyLine('me@host');
  const [type, blob] = good.split(' ');
  const cases: [string, string, RegExp][] = [
    ['tinyvm', `${good}\n`, /ssh-key: image "tinyvm" does not read a cloud-init seed/],
    ['tinyci', `command="touch /tmp/pwned" ${good}\n`, /ssh-key: .*the type must be one of/],
    ['tinyci', `${type ?? ''} ${blob ?? ''} x"\n]}\n`, /ssh-key: .*comment/],
    ['tinyci', `${type ?? ''} ${blob ?? ''} a #cloud-config\n`, /ssh-key: the comment/],
    ['tinyci', `ssh-rsa ${blob ?? ''} me\n`, /ssh-key: the key says it is ssh-rsa but its data is "ssh-ed25519"/],
    ['tinyci', 'ssh-ed25519 AAAA!!!! me\n', /ssh-key: .*base64/],
    ['tinyci', '# just a comment\n\n', /ssh-key: the file holds no public key line/],
  ];
  for (const [image, text, expected] of cases) {
    const file = writeUserFile('hostile.pub', text);
    const r = await runVeAs(info, user, ['create', 'bad1', '--type', 'kvm', '--image', image, '--memory', '96', '--ssh-key', file]);
    t.equal(r.exitCode, 2, `exit 2 for ${JSON.stringify(text.slice(0, 50))}`);
    t.match(r.stderr, expected, `message for ${JSON.stringify(text.slice(0, 50))}`);
  }
  const missing = await runVeAs(info, user, ['create', 'bad1', '--type', 'kvm', '--image', 'tinyci', '--memory', '96', '--ssh-key', '/nonexistent/key.pub']);
  t.equal(missing.exitCode, 2);
  t.match(missing.stderr, /ssh-key: cannot read the file/);
  // the sandbox's tiny LXC image serves SSH ("ssh": true, test/integration/ve-ssh.test.ts); the same rootfs without it takes no keys
  const admin = { ...info, env: info.vemonEnv };
  const plain = await runVeAs(admin, undefined, ['image', 'add', 'tinynossh', join(dir, 'images', 'tiny.rootfs'), '--type', 'lxc', '--init', '/bin/sh /init.sh']);
  t.equal(plain.exitCode, 0, plain.stderr);
  const lxc = await runVeAs(info, user, ['create', 'bad1', '--type', 'lxc', '--image', 'tinynossh', '--memory', '32', '--ssh-key', writeUserFile('ok.pub', good)]);
  t.equal(lxc.exitCode, 2);
  t.match(lxc.stderr, /ssh-key: image "tinynossh" does not read a cloud-init seed .*declares no SSH server/);
  t.equal(await listVeJobs(), queueBefore, 'no job was submitted');

  // past the CLI: forged spec lines the prologue must refuse before anything is made
  const domainsBefore = await allDomains();
  const forged = [
    { name: 'f1', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, sshKeys: [good] },
    { name: 'f2', type: 'kvm', image: 'tinyci', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, sshKeys: [`${good}\n#cloud-config`] },
    { name: 'f3', type: 'kvm', image: 'tinyci', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x'] },
  ];
  const forgedJobs: string[] = [];
  for (const spec of forged) {
    const token = `v1.${Buffer.from(JSON.stringify(spec)).toString('base64url')}`;
    const script = `#!/bin/sh\n# pbs-ve spec ${token}\nPBS_VE_STATE_DIR=${join(info.dir, 'hosts/%h/state')} exec /bin/sh ${join(process.cwd(), 'scripts/job-body.sh')}\n`;
    const sb = await runCommand('sbatch', ['--parsable', '-p', 'batch', '-J', 've-forged', '--cpus-per-task=1', '--mem=96M', '--time=10', '--constraint=kvm', `--output=${join(dir, 'work', 'forged-%j.out')}`], { env: info.env, input: script });
    t.equal(sb.exitCode, 0, sb.stderr);
    forgedJobs.push(sb.stdout.trim().split(';')[0] ?? '');
  }
  await waitFor('forged jobs to end', 120_000, async () => {
    const q = await squeue();
    return forgedJobs.some((j) => q.includes(`${j} `)) ? undefined : true;
  }, 500);
  t.equal(await allDomains(), domainsBefore, 'no domain on either node');
  for (const jobId of forgedJobs) {
    const files = existsSync(findJobDir(info, jobId)) ? readdirSync(findJobDir(info, jobId)).sort() : [];
    t.same(files.filter((f) => !isRefusalBookkeeping(f)), [], `job ${jobId}: nothing but the refusal note in its job dir`);
    const out = readFileSync(join(dir, 'work', `forged-${jobId}.out`), 'utf8');
    t.match(out, /VE refused by the prologue: .*ssh-key/, `job ${jobId}: the owner is told why, naming the field`);
  }
});
