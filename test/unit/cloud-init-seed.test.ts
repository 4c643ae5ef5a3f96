// Cloud-init first boot: SSH key validation, the seed's two files, the spec carrying the keys, the seed
// disk in the domain, the image flag in manifest and LDAP, the wrapper's key files, the prologue (fakes).
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSshPublicKey, validateSshPublicKeys, MAX_SSH_KEYS } from '../../src/core/validate-ssh-public-key.js';
import { buildCloudInitSeed } from '../../src/core/build-cloud-init-seed.js';
import { validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec, formatSpecLine } from '../../src/core/encode-ve-spec.js';
import { realizeVe, type RealizeVeDeps } from '../../src/prologue/realize-ve.js';
import { VeError } from '../../src/core/ve-error.js';
import { buildVeDomainSpec } from '../../src/prologue/build-ve-domain-spec.js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { createVeSeedWriter, removeVeSeed } from '../../src/host/ve-seed.js';
import { readImageManifest } from '../../src/images/image-manifest.js';
import { decodeImageEntry, encodeImageAttributes } from '../../src/inventory/image-entry.js';
import { readDefaultSshKeys, readSshKeyFile } from '../../src/qsub-wrappers/read-ssh-key-files.js';
import { createVe } from '../../src/qsub-wrappers/create-ve.js';
import type { ImageManifest } from '../../src/images/image-manifest.js';
import type { ImageRecord } from '../../src/inventory/image-catalog-inventory.js';
import type { RunCommand } from '../../src/core/run-command.js';
import type { Entry } from 'ldapts';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';
import type { Virt } from '../../src/virt/virt.js';
import type { VeDisks } from '../../src/host/ve-disks.js';
import type { Batch, PelogContext, SubmitRequest } from '../../src/batch/batch.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import type { EventSink } from '../../src/events/event-sink.js';
import type { QemuAcceleration } from '../../src/host/resolve-qemu-acceleration.js';

const field = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};
const wire = (...parts: (string | Buffer)[]): string => Buffer.concat(parts.map((p) => field(typeof p === 'string' ? Buffer.from(p, 'latin1') : p))).toString('base64');
// an SSH mpint: big-endian, with a leading zero byte when the top bit is set
const mpint = (b: Buffer): Buffer => ((b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);

function ed25519Line(comment = 'me@host'): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return `ssh-ed25519 ${wire('ssh-ed25519', der.subarray(der.length - 32))}${comment === '' ? '' : ` ${comment}`}`;
}
function rsaLine(bits: number): string {
  const jwk = generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
  return `ssh-rsa ${wire('ssh-rsa', mpint(Buffer.from(jwk.e ?? '', 'base64url')), mpint(Buffer.from(jwk.n ?? '', 'base64url')))} rsa@host`;
}
function ecdsaLine(curve: 'nistp256' | 'nistp384', claimed = curve): string {
  const jwk = generateKeyPairSync('ec', { namedCurve: curve === 'nistp256' ? 'P-256' : 'P-384' }).publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  return `ecdsa-sha2-${curve} ${wire(`ecdsa-sha2-${curve}`, claimed, point)} ec@host`;
}

const good = ed25519Line();
const [goodType = '', goodBlob = ''] = good.split(' ');

void t.test('SSH public keys: real ed25519, RSA and ECDSA keys pass', (t) => {
  t.equal(validateSshPublicKey(good), good);
  const noComment = ed25519Line('');
  t.equal(validateSshPublicKey(noComment), noComment, 'no comment is fine');
  t.ok(validateSshPublicKey(ed25519Line('John Doe laptop 2024')), 'a comment with single inner spaces');
  t.ok(validateSshPublicKey(rsaLine(2048)));
  t.ok(validateSshPublicKey(ecdsaLine('nistp256')));
  t.ok(validateSshPublicKey(ecdsaLine('nistp384')));
  t.same(validateSshPublicKeys(undefined), []);
  t.end();
});

void t.test('SSH public keys: hostile or broken lines are refused, naming the field', (t) => {
  const bad: [unknown, RegExp][] = [
    [42, /ssh-key: must be one OpenSSH public key line/],
    ['', /ssh-key: /],
    [`command="touch /tmp/x" ${good}`, /the type must be one of/],
    [`no-pty,from="*" ${good}`, /the type must be one of/],
    [`${good}\nssh-ed25519 ${goodBlob} second`, /comment/],
    [`${goodType} ${goodBlob} a\rb`, /comment/],
    [`${goodType}\t${goodBlob}`, /the type must be one of/],
    [` ${good}`, /the type must be one of/],
    [`${goodType}  ${goodBlob}`, /base64/],
    [`${goodType} ${goodBlob} x"]}`, /comment/],
    [`${goodType} ${goodBlob} #cloud-config`, /comment/],
    [`${goodType} ${goodBlob} a\\b`, /comment/],
    [`${goodType} ${goodBlob} {"a": 1}`, /comment/],
    [`${goodType} ${goodBlob} tschüß`, /comment/],
    [`${goodType} ${goodBlob} a  b`, /comment/],
    [`${goodType} ${goodBlob} ${'c'.repeat(101)}`, /comment/],
    [`ssh-dss ${goodBlob}`, /the type must be one of/],
    [`ssh-rsa ${goodBlob} x`, /the key says it is ssh-rsa but its data is "ssh-ed25519"/],
    [`${goodType} ${goodBlob.slice(0, -4)}`, /ssh-key: /],
    [`${goodType} ${goodBlob}=`, /ssh-key: /],
    [`${goodType} AAAAC3NzaC1lZDI1NTE5`, /not an SSH public key/],
    [`${goodType} ${wire('ssh-ed25519', Buffer.alloc(16))}`, /32 bytes/],
    [`${goodType} ${wire('ssh-ed25519', Buffer.alloc(32), 'extra')}`, /32 bytes/],
    [rsaLine(1024), /at least 2048 bits/],
    [ecdsaLine('nistp256', 'nistp384'), /names another curve/],
    [`${goodType} ${'A'.repeat(1100)}`, /at most 1024 characters/],
  ];
  for (const [value, message] of bad) {
    t.throws(() => validateSshPublicKey(value), { code: 'invalid-field', field: 'ssh-key', message }, JSON.stringify(value).slice(0, 60));
  }
  t.throws(() => validateSshPublicKeys('ssh-ed25519 x'), { field: 'ssh-key', message: /must be a list/ });
  t.throws(() => validateSshPublicKeys(Array.from({ length: MAX_SSH_KEYS + 1 }, () => ed25519Line())), { field: 'ssh-key', message: /at most 4/ });
  t.throws(() => validateSshPublicKeys([good, `${goodType} ${goodBlob} other-comment`]), { field: 'ssh-key', message: /twice/ });
  t.end();
});

void t.test('the seed: meta-data and user-data quote every value; nothing a user typed becomes YAML', (t) => {
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-17.srv', hostname: 'web1', sshKeys: [good] });
  t.equal(seed.metaData, 'instance-id: "pbsve-17.srv"\nlocal-hostname: "web1"\n');
  t.ok(seed.userData.startsWith('#cloud-config\n'), 'cloud-init only reads user-data with this first line');
  t.same(JSON.parse(seed.userData.slice('#cloud-config\n'.length)), { hostname: 'web1', ssh_authorized_keys: [good] }, 'the rest is JSON, which YAML reads as is');
  t.match(seed.userData, /\n {4}"ssh-ed25519 [^\n]*"\n/, 'one key per line (the test guest counts them so)');
  // names YAML would turn into other types stay strings
  for (const name of ['123', 'true', 'null', 'yes', 'no', 'on', '0x1f', '1e3']) {
    const s = buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: name, sshKeys: [] });
    t.equal(s.metaData, `instance-id: "pbsve-1"\nlocal-hostname: "${name}"\n`);
    t.same(JSON.parse(s.userData.slice(14)), { hostname: name }, 'no ssh_authorized_keys without keys');
  }
  for (const hostname of ['a b', 'x\nruncmd: [reboot]', 'a"b', "a'b", 'a:b', '-a', 'a'.repeat(64), '', 'ä']) {
    t.throws(() => buildCloudInitSeed({ instanceId: 'pbsve-1', hostname, sshKeys: [] }), { code: 'invalid-field', field: 'name' }, JSON.stringify(hostname));
  }
  for (const instanceId of ['', '../x', 'a b', 'x\nlocal-hostname: evil', '"x"']) {
    t.throws(() => buildCloudInitSeed({ instanceId, hostname: 'ok', sshKeys: [] }), { code: 'invalid-seed', field: 'instance-id' }, JSON.stringify(instanceId));
  }
  t.throws(() => buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: 'ok', sshKeys: [`${good}\nruncmd: [reboot]`] }), { code: 'invalid-field', field: 'ssh-key' }, 'keys are re-validated as root');
  t.end();
});

void t.test('the spec carries the keys: validated, kvm only, round trip through the token, older tokens unchanged', (t) => {
  const limits = { maxVcpus: 4, maxMemoryMiB: 4096, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
  const raw = { name: 'vm1', type: 'kvm', image: 'd12', vcpus: 1, memory: '256', lease: '1h' };
  const withKeys = validateVeSpec({ ...raw, sshKeys: [good, rsaLine(2048)] }, limits);
  t.equal(withKeys.sshKeys?.length, 2);
  t.same(decodeVeSpec(encodeVeSpec(withKeys)), withKeys, 'round trip');
  // RSA 4096 sized keys (the validator checks structure, not primality, so random moduli do)
  const rsa4096 = (): string => `ssh-rsa ${wire('ssh-rsa', Buffer.from([1, 0, 1]), mpint(randomBytes(512)))} someone@somewhere.example.org`;
  const four = validateVeSpec({ ...raw, sshKeys: Array.from({ length: 4 }, rsa4096) }, limits);
  t.same(decodeVeSpec(encodeVeSpec(four)), four, 'four RSA 4096 keys fit the token');
  const plain = validateVeSpec(raw, limits);
  t.notOk('sshKeys' in plain, 'no keys, no field');
  t.notOk('sshKeys' in validateVeSpec({ ...raw, sshKeys: [] }, limits), 'an empty list is no keys');
  t.notMatch(Buffer.from(encodeVeSpec(plain).slice(3), 'base64url').toString(), /sshKeys/, 'tokens without keys look like before');
  // LXC keys are the image's to take ("ssh": true): ve create and the prologue check the catalog, not the spec
  t.same(validateVeSpec({ ...raw, type: 'lxc', sshKeys: [good] }, limits).sshKeys, [good]);
  t.throws(() => validateVeSpec({ ...raw, sshKeys: [`${good}"`] }, limits), { code: 'invalid-field', field: 'ssh-key' });
  const forged = `v1.${Buffer.from(JSON.stringify({ name: 'vm1', type: 'kvm', image: 'd12', vcpus: 1, memoryMiB: 256, leaseSeconds: 60, sshKeys: ['x'] })).toString('base64url')}`;
  t.throws(() => decodeVeSpec(forged), { code: 'invalid-field', field: 'ssh-key' }, 'the prologue decodes and re-validates');
  t.end();
});

const image: ImageManifest = { name: 'ci', type: 'kvm', format: 'qcow2', path: '/img/ci/disk.qcow2', init: ['/sbin/init'], kernel: undefined, initrd: undefined, cmdline: undefined, os: undefined, cloudInit: true };
const spec = { version: 1 as const, name: 'vm1', type: 'kvm' as const, image: 'ci', vcpus: 1, memoryMiB: 128, leaseSeconds: 600 };

void t.test('the seed disk: raw, read-only, out of snapshots, after the data disks', (t) => {
  const withoutSeed = { spec, image, domain: 'pbsve-7', jobId: '7', owner: 'u1', jobDir: '/state/jobs/7' };
  const input = { ...withoutSeed, seedPath: '/state/jobs/7/seed.iso' };
  const two = buildVeDomainSpec({ ...input, disk: { rootfsDir: undefined, diskPath: '/state/jobs/7/disk.qcow2', dataDisks: ['/state/jobs/7/data-1.qcow2', '/state/jobs/7/data-2.qcow2'] } });
  t.same(two.type !== 'lxc' && two.qemu.disks.map((d) => [d.targetDev, d.format, d.readOnly === true]), [
    ['vda', 'qcow2', false], ['vdb', 'qcow2', false], ['vdc', 'qcow2', false], ['vdd', 'raw', true],
  ]);
  const none = buildVeDomainSpec({ ...input, disk: { rootfsDir: undefined, diskPath: '/state/jobs/7/disk.qcow2', dataDisks: [] } });
  t.same(none.type !== 'lxc' && none.qemu.disks.map((d) => d.targetDev), ['vda', 'vdb']);
  const xml = buildDomainXml(two);
  const seedDisk = /<disk type="file" device="disk" snapshot="no">([\s\S]*?)<\/disk>/.exec(xml)?.[1] ?? '';
  t.match(seedDisk, /<driver name="qemu" type="raw"\/>/);
  t.match(seedDisk, /<source file="\/state\/jobs\/7\/seed.iso"\/>/);
  t.match(seedDisk, /<target dev="vdd" bus="virtio"\/>/);
  t.match(seedDisk, /<readonly\/>/);
  t.equal((xml.match(/<readonly\/>/g) ?? []).length, 1, 'only the seed is read-only');
  t.equal((xml.match(/snapshot="no"/g) ?? []).length, 1);
  const noSeed = buildDomainXml(buildVeDomainSpec({ ...withoutSeed, disk: { rootfsDir: undefined, diskPath: '/state/jobs/7/disk.qcow2', dataDisks: [] } }));
  t.notMatch(noSeed, /readonly|seed\.iso/, 'no seed path, no seed disk');
  if (two.type !== 'lxc') {
    const broken = { ...two, qemu: { ...two.qemu, disks: [...two.qemu.disks.slice(0, -1), { path: '/s.iso', format: 'raw' as const, targetDev: 'vdd', readOnly: 'yes' as unknown as boolean }] } };
    t.throws(() => buildDomainXml(broken), { code: 'invalid-domain-spec', field: 'qemu.disks[3].readOnly' });
  }
  t.end();
});

void t.test('the seed writer: genisoimage with volume id cidata; a failure leaves nothing', async (t) => {
  const jobDir = makeTempDir('/tmp/pbsve-unit-seed-');
  const calls: { cmd: string; args: readonly string[]; files: string[] }[] = [];
  const ok: RunCommand = (cmd, args) => {
    calls.push({ cmd, args, files: readdirSync(join(jobDir, 'seed')).sort() });
    writeFileSync(join(jobDir, 'seed.iso'), 'iso');
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  };
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'vm1', sshKeys: [good] });
  t.equal(await createVeSeedWriter(ok)(jobDir, seed), join(jobDir, 'seed.iso'));
  t.equal(calls[0]?.cmd, 'genisoimage');
  const args = calls[0]?.args ?? [];
  t.equal(args[args.indexOf('-volid') + 1], 'cidata');
  t.equal(args[args.indexOf('-output') + 1], join(jobDir, 'seed.iso'));
  t.same(args.slice(-2), [join(jobDir, 'seed/user-data'), join(jobDir, 'seed/meta-data')]);
  t.same(calls[0]?.files, ['meta-data', 'user-data']);
  t.same(readdirSync(jobDir), ['seed.iso'], 'the staging dir is gone');
  const failing: RunCommand = () => {
    writeFileSync(join(jobDir, 'seed.iso'), 'half');
    return Promise.resolve({ exitCode: 1, stdout: '', stderr: 'genisoimage: No space left on device' });
  };
  await t.rejects(createVeSeedWriter(failing)(jobDir, seed), { code: 'seed-build-failed', message: /No space left/ });
  t.same(readdirSync(jobDir), [], 'nothing left after a failure');
  writeFileSync(join(jobDir, 'seed.iso'), 'x');
  mkdirSync(join(jobDir, 'seed'));
  await removeVeSeed(jobDir);
  await removeVeSeed(jobDir);
  t.same(readdirSync(jobDir), [], 'removal is idempotent');
});

void t.test('the image flag: manifest (kvm only, boolean) and LDAP', (t) => {
  const dir = makeTempDir('/tmp/pbsve-unit-ci-image-');
  writeFileSync(join(dir, 'disk.qcow2'), '');
  const manifest = (extra: Record<string, unknown>): void => { writeFileSync(join(dir, 'ci.json'), JSON.stringify({ name: 'ci', type: 'kvm', format: 'qcow2', path: 'disk.qcow2', ...extra })); };
  manifest({ cloudInit: true });
  t.equal(readImageManifest(dir, 'ci').cloudInit, true);
  manifest({});
  t.notOk('cloudInit' in readImageManifest(dir, 'ci'), 'absent = no');
  manifest({ cloudInit: 'yes' });
  t.throws(() => readImageManifest(dir, 'ci'), { code: 'invalid-image', field: 'cloudInit' });
  manifest({ cloudInit: true, type: 'lxc', format: 'dir' });
  t.throws(() => readImageManifest(dir, 'ci'), { code: 'invalid-image', field: 'cloudInit' });

  const plain: ImageRecord = { name: 'ci', type: 'kvm', path: '/img/ci', format: 'qcow2', os: '', sizeBytes: 0, checksum: '', description: '' };
  const record: ImageRecord = { ...plain, cloudInit: true };
  const attrs = encodeImageAttributes(record);
  t.same(attrs['pbsveCloudInit'], ['TRUE']);
  const entry: Entry = { dn: 'x' };
  for (const [k, v] of Object.entries(attrs)) entry[k] = v.length === 1 ? (v[0] ?? '') : v;
  t.same(decodeImageEntry(entry), record);
  t.same(encodeImageAttributes(plain)['pbsveCloudInit'], [], 'removed on replace when the image has none');
  t.end();
});

void t.test('key files: --ssh-key FILE and the caller\'s default ~/.ssh/id_*.pub', (t) => {
  const home = makeTempDir('/tmp/pbsve-unit-home-');
  mkdirSync(join(home, '.ssh'));
  t.same(readDefaultSshKeys(home, () => undefined), [], 'no key files, no keys');
  const rsa = rsaLine(2048);
  writeFileSync(join(home, '.ssh', 'id_rsa.pub'), `${rsa}\n`);
  writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${good}\r\n`);
  const warnings: string[] = [];
  t.same(readDefaultSshKeys(home, (l) => warnings.push(l)), [good, rsa], 'ed25519 first, CRLF tolerated');
  writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${good}\n${good.replace('me@host', 'copy')}\n`);
  t.same(readDefaultSshKeys(home, (l) => warnings.push(l)), [good, rsa], 'a key given twice is taken once');
  writeFileSync(join(home, '.ssh', 'id_ecdsa.pub'), 'command="x" ssh-ed25519 AAAA\n');
  t.same(readDefaultSshKeys(home, (l) => warnings.push(l)), [good, rsa], 'a key we would refuse is skipped');
  t.match(warnings.join('\n'), /not using .*id_ecdsa\.pub: ssh-key: /, 'with a word why');

  const list = join(home, 'keys');
  writeFileSync(list, `# my keys\n\n${good}\n${rsa}\n`);
  t.same(readSshKeyFile(list), [good, rsa], 'authorized_keys style: comments and blank lines skipped');
  writeFileSync(list, '# nothing\n');
  t.throws(() => readSshKeyFile(list), { field: 'ssh-key', message: /holds no public key line/ });
  writeFileSync(list, 'x'.repeat(17000));
  t.throws(() => readSshKeyFile(list), { field: 'ssh-key', message: /at most 16384 bytes/ });
  t.throws(() => readSshKeyFile(join(home, 'missing.pub')), { field: 'ssh-key', message: /cannot read the file \(ENOENT\)/ });
  t.throws(() => readSshKeyFile(home), { field: 'ssh-key', message: /not a directory/ });
  t.notOk(existsSync(join(home, '.ssh', 'authorized_keys')), 'nothing written');
  t.end();
});

// The prologue with fakes around it: where the seed is made, attached, and undone.
function setupRealize(t: { teardown: (fn: () => void) => void }, opts: { cloudInit: boolean; sshKeys?: string[]; failStart?: boolean }) {
  const root = makeTempDir('/tmp/pbsve-unit-realize-');
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  const imageDir = join(root, 'images');
  const stateDir = join(root, 'state');
  mkdirSync(join(imageDir, 'ci'), { recursive: true });
  writeFileSync(join(imageDir, 'ci', 'disk.qcow2'), '');
  writeFileSync(join(imageDir, 'ci.json'), JSON.stringify({ name: 'ci', type: 'kvm', format: 'qcow2', path: 'ci/disk.qcow2', ...(opts.cloudInit ? { cloudInit: true } : {}) }));
  const config = { stateDir, imageDir, virt: { hosts: { default: { qemuUri: 'qemu:///x', lxcUri: 'lxc:///x', roQemuUri: 'qemu:///x?ro', roLxcUri: 'lxc:///x?ro' } }, startTimeoutMs: 1000, kvmAcceleration: 'never' }, nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve' } as unknown as PbsVeConfig;
  const veSpec = { version: 1 as const, name: 'web1', type: 'kvm' as const, image: 'ci', vcpus: 1, memoryMiB: 128, leaseSeconds: 600, disks: [16], ...(opts.sshKeys === undefined ? {} : { sshKeys: opts.sshKeys }) };
  const xmls: string[] = [];
  const calls: string[] = [];
  const virt = {
    defineDomain: (xml: string) => { xmls.push(xml); return Promise.resolve(); },
    startDomain: () => (opts.failStart === true ? Promise.reject(new VeError('start-failed', 'environment', 'libvirt: no')) : Promise.resolve()),
    waitForState: () => Promise.resolve('running'),
    destroyDomain: () => { calls.push('destroy'); return Promise.resolve(); },
    undefineDomain: () => { calls.push('undefine'); return Promise.resolve(); },
    close: () => Promise.resolve(),
  } as unknown as Virt;
  const disks: VeDisks = {
    checkSpace: () => Promise.resolve(),
    prepare: (_image, jobDir) => {
      writeFileSync(join(jobDir, 'disk.qcow2'), '');
      writeFileSync(join(jobDir, 'data-1.qcow2'), '');
      return Promise.resolve({ rootfsDir: undefined, diskPath: join(jobDir, 'disk.qcow2'), dataDisks: [join(jobDir, 'data-1.qcow2')] });
    },
    remove: (jobDir) => { calls.push('disks.remove'); rmSync(join(jobDir, 'disk.qcow2'), { force: true }); rmSync(join(jobDir, 'data-1.qcow2'), { force: true }); return Promise.resolve(); },
    keepDataDisks: () => Promise.resolve([]),
  };
  const fakeIso: RunCommand = (_cmd, args) => {
    writeFileSync(args[args.indexOf('-output') + 1] ?? '/nonexistent', 'iso');
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
  };
  const deps: RealizeVeDeps = {
    batch: { getJob: () => Promise.resolve({ startCount: 1, resources: { cpus: 1, memoryMiB: 128, walltimeSeconds: 600, features: ['kvm'] } }) } as unknown as Batch,
    config, clock: { now: () => new Date(0), sleep: () => Promise.resolve() },
    events: { emit: () => Promise.resolve() } as unknown as EventSink,
    disks, openVirt: () => Promise.resolve(virt),
    readJobScript: () => Promise.resolve(`#!/bin/sh\n${formatSpecLine(veSpec)}\n`),
    log: () => undefined,
    resolveAcceleration: () => Promise.resolve({ domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG' } as QemuAcceleration),
    findOwner: () => Promise.resolve({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }),
    console: { prepareLog: () => Promise.resolve() },
    writeSeed: createVeSeedWriter(fakeIso),
    networks: { ensure: () => Promise.resolve(), release: () => Promise.resolve([]), readLeases: () => Promise.resolve([]) },
  };
  const ctx = { jobId: '7', user: 'alice', host: 'node1' } as unknown as PelogContext;
  return { ctx, deps, xmls, calls, jobDir: join(stateDir, 'jobs', '7') };
}

void t.test('the prologue: a cloud-init image gets its seed as the last disk; without one, no seed', async (t) => {
  const ci = setupRealize(t, { cloudInit: true, sshKeys: [good] });
  t.match(await realizeVe(ci.ctx, ci.deps), { kind: 'realized', domain: 'pbsve-7' });
  t.ok(existsSync(join(ci.jobDir, 'seed.iso')), 'seed.iso in the job dir');
  t.notOk(existsSync(join(ci.jobDir, 'seed')), 'no staging dir');
  const targets = [...(ci.xmls[0] ?? '').matchAll(/<source file="([^"]*)"\/>\s*<target dev="(vd[a-z])"/g)].map((m) => [m[2], m[1]]);
  t.same(targets, [['vda', join(ci.jobDir, 'disk.qcow2')], ['vdb', join(ci.jobDir, 'data-1.qcow2')], ['vdc', join(ci.jobDir, 'seed.iso')]]);

  const plain = setupRealize(t, { cloudInit: false });
  await realizeVe(plain.ctx, plain.deps);
  t.notOk(existsSync(join(plain.jobDir, 'seed.iso')), 'an image without cloud-init gets no seed');
  t.notMatch(plain.xmls[0] ?? '', /seed\.iso|readonly/);
});

void t.test('the prologue: keys for an image without cloud-init are refused before anything is made; a failed start takes the seed away', async (t) => {
  const refused = setupRealize(t, { cloudInit: false, sshKeys: [good] });
  await t.rejects(realizeVe(refused.ctx, refused.deps), { code: 'image-without-cloud-init', kind: 'prereq', field: 'ssh-key', message: /^ssh-key: image "ci" does not read a cloud-init seed/ });
  t.same(refused.xmls, [], 'no domain defined');
  t.same(existsSync(refused.jobDir) ? readdirSync(refused.jobDir).filter((f) => f !== 'refused' && f !== 'seq' && f !== 'reported') : [], [], 'nothing in the job dir but the refusal note, the seq and the reported state of the failed event');

  const failing = setupRealize(t, { cloudInit: true, sshKeys: [good], failStart: true });
  await t.rejects(realizeVe(failing.ctx, failing.deps), { code: 'start-failed' });
  t.equal(failing.xmls.length, 1, 'the domain was defined with the seed');
  t.match(failing.xmls[0] ?? '', /seed\.iso/);
  t.same(failing.calls, ['destroy', 'undefine', 'disks.remove'], 'the undo path ran');
  const left = readdirSync(failing.jobDir).filter((f) => /\.(iso|qcow2)$/.test(f) || f === 'seed');
  t.same(left, [], 'no seed, staging dir or disk left behind');
});

// ve create with fakes: what is submitted where, and when the caller's own keys are used.
async function submitCreate(t: { teardown: (fn: () => void) => void }, cloudInit: boolean, raw: Record<string, unknown>, defaultSshKeys?: () => string[]) {
  const imageDir = makeTempDir('/tmp/pbsve-unit-create-');
  t.teardown(() => { rmSync(imageDir, { recursive: true, force: true }); });
  writeFileSync(join(imageDir, 'disk.qcow2'), '');
  writeFileSync(join(imageDir, 'ci.json'), JSON.stringify({ name: 'ci', type: 'kvm', format: 'qcow2', path: 'disk.qcow2', ...(cloudInit ? { cloudInit: true } : {}) }));
  const submitted: SubmitRequest[] = [];
  const batch = {
    listNodes: () => Promise.resolve([{ name: 'node1', features: ['kvm'], cpus: 2, memoryMiB: 4096 }]),
    listJobs: () => Promise.resolve([]),
    submit: (r: SubmitRequest) => { submitted.push(r); return Promise.resolve('42'); },
  } as unknown as Batch;
  const inventory = { listVes: () => Promise.resolve([]) } as unknown as Inventory;
  const config = { imageDir, minMemoryMiB: 16, nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', stateDir: '/var/lib/pbs-ve', batch: { veQueue: 'batch', maxLeaseSeconds: 86400 } } as unknown as PbsVeConfig;
  const r = await createVe({ name: 'vm1', type: 'kvm', image: 'ci', vcpus: '1', memory: '128', lease: '1h', ...raw }, {
    batch, inventory, config, configDir: '/etc/pbs-ve', owner: 'alice', ...(defaultSshKeys === undefined ? {} : { defaultSshKeys }),
  });
  return { spec: r.spec, request: submitted[0] };
}

void t.test('ve create: keys in the script only, the caller\'s keys by default, refused for an image without cloud-init', async (t) => {
  const rsa4096 = `ssh-rsa ${wire('ssh-rsa', Buffer.from([1, 0, 1]), mpint(randomBytes(512)))} big@host`;
  const { spec, request } = await submitCreate(t, true, { sshKeys: [rsa4096] });
  t.same(spec.sshKeys, [rsa4096]);
  t.ok(request?.script.includes(formatSpecLine(spec)), 'the script carries the full spec, keys included');
  const listed = decodeVeSpec(request?.variables['VE_SPEC'] ?? '');
  t.notOk('sshKeys' in listed, 'the job variable leaves the keys out');
  t.equal(listed.name, 'vm1');
  t.ok((request?.comment ?? '').length <= 1024, `the Slurm comment stays within 1024 characters (${request?.comment?.length ?? 0})`);
  t.notMatch(request?.comment ?? '', /sshKeys/);

  const byDefault = await submitCreate(t, true, {}, () => [good]);
  t.same(byDefault.spec.sshKeys, [good], 'no --ssh-key: the caller\'s own key');
  const explicit = await submitCreate(t, true, { sshKeys: [rsa4096] }, () => [good]);
  t.same(explicit.spec.sshKeys, [rsa4096], '--ssh-key wins over the defaults');
  let asked = false;
  const plain = await submitCreate(t, false, {}, () => { asked = true; return [good]; });
  t.notOk('sshKeys' in plain.spec, 'an image without cloud-init gets no default keys');
  t.notOk(asked, 'and the key files are not even read');
  await t.rejects(submitCreate(t, false, { sshKeys: [good] }), { code: 'invalid-field', field: 'ssh-key', message: /^ssh-key: image "ci" does not read a cloud-init seed/ });
});

void t.test('network-config: static addresses matched by MAC, the other NICs by DHCP, one NIC a line; none without a static address', (t) => {
  const nics = [{ mac: '52:54:00:00:00:01' }, { mac: '52:54:00:00:00:02', address: '10.99.0.10/24' }];
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: 'lab-head', sshKeys: [], nics });
  t.same(JSON.parse(seed.networkConfig ?? '{}'), {
    version: 2,
    ethernets: {
      nic0: { match: { macaddress: '52:54:00:00:00:01' }, dhcp4: true },
      nic1: { match: { macaddress: '52:54:00:00:00:02' }, dhcp4: false, addresses: ['10.99.0.10/24'] },
    },
  });
  t.match(seed.networkConfig ?? '', /^ {4}"nic1": \{"match":\{"macaddress":"52:54:00:00:00:02"\},"dhcp4":false,"addresses":\["10\.99\.0\.10\/24"\]\}$/m, 'a guest without a YAML parser finds each NIC on its line');
  t.equal(buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: 'x', sshKeys: [], nics: [{ mac: '52:54:00:00:00:01' }] }).networkConfig, undefined, 'DHCP only: cloud-init\'s default is left alone');
  for (const bad of [{ mac: '52:54:00:00:00:0Z', address: '10.0.0.1/24' }, { mac: '52:54:00:00:00:01', address: '10.0.0.1' }, { mac: '52:54:00:00:00:01', address: '10.0.0.1/24"],"x":["' }, { mac: '52:54:00:00:00:01', address: '300.0.0.1/24' }]) {
    t.throws(() => buildCloudInitSeed({ instanceId: 'pbsve-1', hostname: 'x', sshKeys: [], nics: [bad] }), { code: 'invalid-seed' }, JSON.stringify(bad));
  }
  t.end();
});
