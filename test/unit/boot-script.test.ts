// Boot scripts (a cluster role's `run`, VeSpec.bootScript): the rules on hostile text, the manifest field with
// its line, the job token and the copies that leave it out, the LXC rootfs seeding (no link followed) and the
// cloud-init per-boot script.
import t from 'tap';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { validateBootScript, MAX_BOOT_SCRIPT_BYTES } from '../../src/core/validate-boot-script.js';
import { validateVeSpec } from '../../src/core/validate-ve-spec.js';
import { decodeVeSpec, encodeVeSpec, findSpecToken } from '../../src/core/encode-ve-spec.js';
import { buildCloudInitSeed, CLOUD_INIT_BOOT_SCRIPT } from '../../src/core/build-cloud-init-seed.js';
import { parseClusterManifest, MAX_MANIFEST_RUN_BYTES } from '../../src/clusters/parse-cluster-manifest.js';
import { planClusterMembers } from '../../src/clusters/plan-cluster-members.js';
import { countRoles } from '../../src/clusters/plan-cluster-addresses.js';
import { decodeClusterIntent, encodeClusterIntent } from '../../src/clusters/cluster-intent.js';
import { seedLxcGuest } from '../../src/host/seed-lxc-guest.js';
import { createVe } from '../../src/qsub-wrappers/create-ve.js';
import { SPEC_COMMENT_PREFIX } from '../../src/batch/find-job-spec.js';
import type { Batch, SubmitRequest } from '../../src/batch/batch.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-boot-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
const limits = { maxVcpus: 4, maxMemoryMiB: 4096, maxLeaseSeconds: 86400, minMemoryMiB: 16 };
const base = { name: 'shop-web1', type: 'lxc', image: 'tiny', vcpus: 1, memory: 64, lease: '1h' };
const script = '#!/bin/sh\nhttpd -p 80 -h /www\t# tabs are fine\necho "ünïcode ok"\n';

void t.test('a boot script is bounded UTF-8 text without NUL, CR or other control characters', (t) => {
  t.equal(validateBootScript(script), script);
  t.equal(validateBootScript('x'.repeat(MAX_BOOT_SCRIPT_BYTES)).length, MAX_BOOT_SCRIPT_BYTES, 'exactly at the cap');
  t.throws(() => validateBootScript('x'.repeat(MAX_BOOT_SCRIPT_BYTES + 1)), { code: 'invalid-field', field: 'run', message: /at most 4096 bytes \(got "4097 bytes"\)/ });
  t.throws(() => validateBootScript('é'.repeat(MAX_BOOT_SCRIPT_BYTES / 2 + 1)), { field: 'run', message: /4098 bytes/ }, 'counted in UTF-8 bytes, not characters');
  for (const [bad, line, code] of [['a\0b', 1, '0000'], ['ok\nrm -rf /\r\n', 2, '000D'], ['echo \u001b[2J', 1, '001B'], ['x\n\n\u007f', 3, '007F']] as const) {
    t.throws(() => validateBootScript(bad), { field: 'run', message: new RegExp(`line ${line} has U\\+${code}`) }, JSON.stringify(bad));
  }
  t.throws(() => validateBootScript('echo \ud800'), { field: 'run', message: /valid UTF-8/ }, 'a lone surrogate');
  for (const bad of ['', ' \n\t', 42, ['echo'], { run: 'x' }, null]) t.throws(() => validateBootScript(bad, 'roles[0].run'), { field: 'roles[0].run', message: /non-empty shell script/ }, JSON.stringify(bad));
  t.end();
});

void t.test('the spec carries it through the job token, re-validated when decoded; absent when unused', (t) => {
  const spec = validateVeSpec({ ...base, bootScript: script }, limits);
  t.equal(spec.bootScript, script);
  t.same(decodeVeSpec(encodeVeSpec(spec)), spec);
  t.notOk('bootScript' in validateVeSpec(base, limits), 'absent when unused: older tokens unchanged');
  const forged = `v1.${Buffer.from(JSON.stringify({ name: 'a', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60, bootScript: 'a\0b' })).toString('base64url')}`;
  t.throws(() => decodeVeSpec(forged), { code: 'invalid-field', field: 'run' }, 'a forged token with a NUL is refused');
  t.end();
});

const manifest = (run: string, extra = ''): string => `name: shop
roles:
  - role: web
    type: lxc
    image: tiny
    run: ${run}
${extra}`;

void t.test('the manifest field run: parsed per role, errors name the line and field, the whole manifest is capped', (t) => {
  const example = parseClusterManifest(readFileSync(join(import.meta.dirname, '../../../examples/three-tier-web.yaml'), 'utf8'), 'three-tier-web.yaml');
  t.same(example.roles.map((r) => r.role), ['lb', 'web', 'db']);
  t.ok(example.roles.every((r) => r.run?.startsWith('mkdir -p /www/cgi-bin') === true), 'the example has a script for every role');
  t.match(example.roles[0]?.run ?? '', /\n {2}if body=\$\(timeout 2 wget -q -O - "http:\/\/\$web\/cgi-bin\/shop"\); then\n/, 'YAML block indentation removed, inner indentation kept');
  t.equal(parseClusterManifest('name: a\nroles:\n  - role: x\n    type: lxc\n    image: tiny\n').roles[0]?.run, undefined, 'no run: none');
  t.throws(() => parseClusterManifest(manifest('"echo \\0 hi"'), 'm.yaml'), { code: 'invalid-manifest', field: 'roles[0].run', message: /^m\.yaml:6: roles\[0\]\.run: .*line 1 has U\+0000/ });
  t.throws(() => parseClusterManifest(manifest('[echo, hi]'), 'm.yaml'), { field: 'roles[0].run', message: /^m\.yaml:6: .*non-empty shell script/ });
  t.throws(() => parseClusterManifest(manifest(`"${'x'.repeat(5000)}"`), 'm.yaml'), { field: 'roles[0].run', message: /at most 4096 bytes/ });
  const big = 'x'.repeat(3000);
  const three = `name: shop\nroles:\n${['a', 'b', 'c'].map((r) => `  - role: ${r}\n    type: lxc\n    image: tiny\n    run: "${big}"\n`).join('')}`;
  t.throws(() => parseClusterManifest(three, 'm.yaml'), { field: 'roles', message: new RegExp(`^m\\.yaml:3: roles: run: the boot scripts of all roles must add up to at most ${MAX_MANIFEST_RUN_BYTES} bytes \\(got "9000 bytes"\\)`) });
  t.end();
});

void t.test('every member of a role gets its script; the intent job carries it, so a recreated member does too', (t) => {
  const m = parseClusterManifest(readFileSync(join(import.meta.dirname, '../../../examples/three-tier-web.yaml'), 'utf8'));
  const intent = { seq: Date.parse('2026-12-02T20:00:00Z'), createdAt: '2026-12-02T20:00:00.000Z', manifest: m, counts: countRoles(m) };
  const decoded = decodeClusterIntent(encodeClusterIntent(intent));
  t.same(decoded, intent, 'the intent round trip keeps every run');
  const plans = planClusterMembers(decoded, new Date('2026-12-02T21:00:00Z'));
  t.same(plans.map((p) => p.name), ['shop-lb', 'shop-web1', 'shop-web2', 'shop-db']);
  for (const p of plans) {
    const spec = validateVeSpec(p.raw, limits);
    t.equal(spec.bootScript, m.roles.find((r) => r.role === p.role)?.run, `${p.name}: its role's script`);
  }
  const forged = JSON.parse(Buffer.from(encodeClusterIntent(intent).slice(3), 'base64url').toString()) as { manifest: { roles: Record<string, unknown>[] } };
  const first = forged.manifest.roles[0] ?? {};
  forged.manifest.roles[0] = { ...first, run: 'echo\r\n' };
  t.throws(() => decodeClusterIntent(`c1.${Buffer.from(JSON.stringify(forged)).toString('base64url')}`), { code: 'invalid-cluster-intent', message: /roles\[0\]\.run/ }, 'an edited intent is re-validated');
  t.end();
});

void t.test('LXC: /etc/pbs-ve/boot.sh in the rootfs copy, the container root\'s, never written through a link', (t) => {
  const seed = { hostname: 'shop-web1', hosts: [], sshKeys: [], bootScript: script };
  const rootfs = join(dir, 'rootfs1');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  seedLxcGuest(rootfs, undefined, seed);
  t.equal(readFileSync(join(rootfs, 'etc/pbs-ve/boot.sh'), 'utf8'), script);
  t.equal(statSync(join(rootfs, 'etc/pbs-ve/boot.sh')).mode & 0o777, 0o755);
  t.equal(statSync(join(rootfs, 'etc/pbs-ve')).mode & 0o777, 0o755);

  const secret = join(dir, 'host-file');
  writeFileSync(secret, 'host file\n');
  const rootfs2 = join(dir, 'rootfs2');
  mkdirSync(join(rootfs2, 'etc/pbs-ve'), { recursive: true });
  symlinkSync(secret, join(rootfs2, 'etc/pbs-ve/boot.sh'));
  seedLxcGuest(rootfs2, undefined, seed);
  t.equal(readFileSync(secret, 'utf8'), 'host file\n', 'nothing written through the file link');
  t.ok(lstatSync(join(rootfs2, 'etc/pbs-ve/boot.sh')).isFile(), 'the link replaced by the VE\'s own file');

  const hostDir = join(dir, 'host-dir');
  mkdirSync(hostDir);
  const rootfs3 = join(dir, 'rootfs3');
  mkdirSync(join(rootfs3, 'etc'), { recursive: true });
  symlinkSync(hostDir, join(rootfs3, 'etc/pbs-ve'));
  t.throws(() => { seedLxcGuest(rootfs3, undefined, seed); }, { code: 'guest-path-unsafe', message: /\/etc\/pbs-ve .*not a directory/ });
  t.throws(() => { seedLxcGuest(join(dir, 'rootfs4'), undefined, { ...seed, bootScript: 'a\0' }); }, { code: 'invalid-field', field: 'run' }, 're-validated as root');

  const rootfs5 = join(dir, 'rootfs5');
  mkdirSync(join(rootfs5, 'etc'), { recursive: true });
  seedLxcGuest(rootfs5, undefined, { hostname: 'x', hosts: [], sshKeys: [] });
  t.throws(() => lstatSync(join(rootfs5, 'etc/pbs-ve')), /ENOENT/, 'no script: nothing written');
  t.end();
});

void t.test('QEMU: the cloud-init seed carries it as a per-boot script', (t) => {
  const seed = buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'shop-web1', sshKeys: [], hosts: [{ name: 'shop-db', address: '10.99.0.11' }], bootScript: script });
  const config = JSON.parse(seed.userData.replace(/^#cloud-config\n/, '')) as { write_files: { path: string; permissions: string; content: string; encoding?: string }[] };
  t.same(config.write_files.map((f) => f.path), ['/etc/hosts', CLOUD_INIT_BOOT_SCRIPT], '/etc/hosts, then the script');
  const boot = config.write_files[1];
  t.equal(boot?.encoding, 'b64', 'base64: one line a guest without a JSON parser can decode');
  t.equal(Buffer.from(boot?.content ?? '', 'base64').toString(), script);
  t.equal(boot?.permissions, '0755');
  t.match(seed.userData, new RegExp(`"path": "${CLOUD_INIT_BOOT_SCRIPT}",\n +"permissions": "0755",\n +"owner": "root:root",\n +"encoding": "b64",\n +"content": "[A-Za-z0-9+/=]+"\n`), 'one key a line, content last: the layout the tinyvm init reads');
  t.notMatch(buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'x', sshKeys: [] }).userData, /write_files|per-boot/, 'none without a script');
  t.throws(() => buildCloudInitSeed({ instanceId: 'pbsve-7', hostname: 'x', sshKeys: [], bootScript: '\0' }), { code: 'invalid-field', field: 'run' });
  t.end();
});

// ve create with fakes: the script carries the boot script; the listing copies (variable, Slurm comment) do not.
async function submit(t: { teardown: (fn: () => void) => void }, image: Record<string, unknown>, raw: Record<string, unknown>): Promise<SubmitRequest | undefined> {
  const imageDir = mkdtempSync(join(dir, 'images-'));
  writeFileSync(join(imageDir, 'disk.qcow2'), '');
  mkdirSync(join(imageDir, 'tiny.rootfs'));
  writeFileSync(join(imageDir, 'img.json'), JSON.stringify({ name: 'img', ...image }));
  const submitted: SubmitRequest[] = [];
  const batch = {
    listNodes: () => Promise.resolve([{ name: 'node1', features: ['kvm', 'lxc'], cpus: 2, memoryMiB: 4096 }]),
    listJobs: () => Promise.resolve([]),
    submit: (r: SubmitRequest) => { submitted.push(r); return Promise.resolve('42'); },
  } as unknown as Batch;
  const inventory = { listVes: () => Promise.resolve([]) } as unknown as Inventory;
  const config = { imageDir, minMemoryMiB: 16, nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', stateDir: '/var/lib/pbs-ve', batch: { veQueue: 'batch', maxLeaseSeconds: 86400 } } as unknown as PbsVeConfig;
  t.teardown(() => { rmSync(imageDir, { recursive: true, force: true }); });
  await createVe({ name: 'vm1', vcpus: '1', memory: '128', lease: '1h', image: 'img', ...raw }, { batch, inventory, config, configDir: '/etc/pbs-ve', owner: 'alice' });
  return submitted[0];
}

void t.test('ve create: the boot script in the job script only; refused for a QEMU image without cloud-init', async (t) => {
  const request = await submit(t, { type: 'lxc', format: 'dir', path: 'tiny.rootfs', init: ['/bin/sh', '/init.sh'] }, { type: 'lxc', bootScript: script });
  const full = decodeVeSpec(findSpecToken(request?.script ?? '') ?? '');
  t.equal(full.bootScript, script, 'the script carries the spec with the boot script');
  const listed = decodeVeSpec(request?.variables['VE_SPEC'] ?? '');
  t.notOk('bootScript' in listed, 'the job variable leaves it out');
  t.same({ ...listed, bootScript: script }, full, 'and only it');
  t.equal(request?.comment, `${SPEC_COMMENT_PREFIX}${encodeVeSpec(listed)}`, 'so does the Slurm comment');
  const kvm = await submit(t, { type: 'kvm', format: 'qcow2', path: 'disk.qcow2', cloudInit: true }, { type: 'kvm', bootScript: script });
  t.ok(kvm !== undefined, 'a cloud-init QEMU image takes it');
  await t.rejects(submit(t, { type: 'kvm', format: 'qcow2', path: 'disk.qcow2' }, { type: 'kvm', bootScript: script }), { code: 'invalid-field', field: 'run', message: /reads no cloud-init seed/ });
});
