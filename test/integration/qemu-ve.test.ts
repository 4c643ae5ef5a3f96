// Real guests from the image catalog: a QEMU (TCG) VE booting the Debian cloud kernel with a busybox
// initramfs, an LXC container, their consoles, data disks, and hostile specs that must leave nothing behind.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import { sleep, waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findRootfsDir } from '../../src/host/ve-disks.js';
import { findJobDir, listJobDirs, isRefusalBookkeeping } from '../harness/sandbox-host-files.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

interface Row { name: string; state: string; host: string; jobId: string }

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-qemu-', verbose: true,
  ready: (started) => {
    info = started;
  },
});
let info: SandboxInfo;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;
const owner = user ?? 'root';

async function allDomains(): Promise<string> {
  let out = '';
  for (const node of Object.values(info.nodes)) {
    for (const uri of [node.lxcUri, node.qemuUri]) out += (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
  }
  return out.split('\n').filter((l) => l.trim() !== '').sort().join('\n');
}

async function squeue(): Promise<string> {
  return (await runCommand('squeue', ['-h', '-o', '%i %j %T'], { env: info.env })).stdout;
}

function readRecord(jobId: string): VeJobRecord {
  return JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord;
}

// PSS is what a VE really costs the host: shared pages (qemu binary, libc) counted proportionally.
function readPssKiB(pid: number): number {
  const m = /^Pss:\s+([0-9]+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

function findPids(match: (cmdline: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (match(cmdline)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function childPids(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number);
    return kids.flatMap((k) => [k, ...childPids(k)]);
  } catch {
    return [];
  }
}

// Polls the file as root: the time the first line lands is the boot latency the user sees.
async function waitForFirstLine(path: string, timeoutMs: number): Promise<number> {
  return waitFor(`first console line in ${path}`, timeoutMs, () => {
    try {
      return readFileSync(path, 'utf8').includes('\n') ? Date.now() : undefined;
    } catch {
      return undefined;
    }
  }, 20);
}

async function waitForText(path: string, text: string, timeoutMs: number): Promise<number> {
  return waitFor(`${text} in ${path}`, timeoutMs, () => {
    try {
      return readFileSync(path, 'utf8').includes(text) ? Date.now() : undefined;
    } catch {
      return undefined;
    }
  }, 20);
}

async function waitForConsole(name: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  return waitFor(`${pattern.source} in ve console ${name}`, timeoutMs, async () => {
    const r = await runVeAs(info, user, ['console', name, '--lines', '500']);
    return r.exitCode === 0 && pattern.test(r.stdout) ? r.stdout : undefined;
  }, 500);
}

void t.test('a QEMU (TCG) VE boots the catalog image, shows its marker in ve console, and leaves nothing when destroyed', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, user, ['create', 'vm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--disk', '64M', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  const consoleLog = join(findJobDir(info, jobId), 'console.log');
  // watched from the start, alongside the wait for LDAP, so the time is the first line's, not the poll's
  const [firstLineAt, markerAt] = await Promise.all([waitForFirstLine(consoleLog, 120_000), waitForText(consoleLog, 'VE-MARKER: init started', 120_000)]);
  await waitForLdapState(info, user, 'vm1', 'running', 120_000);
  const record = readRecord(jobId);
  const startedAt = Date.parse(record.startedAt ?? '');
  t.comment(`QEMU TCG: prologue start -> first console line ${firstLineAt - startedAt} ms, -> VE-MARKER (init running) ${markerAt - startedAt} ms (poll 20 ms)`);
  const out = await waitForConsole('vm1', /VE-MARKER: disk vdb/, 90_000);
  t.match(out, /VE-MARKER: init started/, 've console shows the marker');
  t.match(out, /VE-MARKER: disk vdb 131072 sectors/, 'the 64 MiB data disk is vdb in the guest');
  t.match(out, /VE-MARKER: cpus 1/);

  t.equal(record.emulated, true, 'the job record says the VE runs emulated');
  const details = JSON.parse((await runVeAs(info, user, ['show', 'vm1', '--json'])).stdout) as { ve: Row; history: { state: string; reason: string }[] };
  t.match(details.history[0]?.reason ?? '', /emulated by QEMU TCG/, 'and so does the running event');
  const host = details.ve.host;

  const st = statSync(consoleLog);
  const ids = await runCommand('id', ['-u', owner], {});
  t.equal(st.uid, Number(ids.stdout.trim()), 'console log owned by the VE owner');
  t.equal(st.mode & 0o777, 0o600, 'and readable by the owner only');

  const xml = (await runCommand('virsh', ['-c', info.nodes[host]?.qemuUri ?? '', 'dumpxml', `pbsve-${jobId}`], {})).stdout;
  t.match(xml, /<domain type='qemu'/, 'TCG: domain type qemu');
  t.match(xml, /<vcpu placement='static'>1<\/vcpu>/, '1 vcpu');
  t.match(xml, /<memory unit='KiB'>131072<\/memory>/, '128 MiB');
  t.equal((xml.match(/<disk type='file' device='disk'>/g) ?? []).length, 2, '2 disks: overlay and data disk');
  t.match(xml, new RegExp(`<source file='${findJobDir(info, jobId)}/data-1.qcow2'`), 'the data disk is the per-VE file');

  const qemuPid = findPids((c) => c.includes(`guest=pbsve-${jobId},`))[0];
  if (qemuPid !== undefined) t.comment(`QEMU TCG VE (128 MiB guest): qemu PSS ${Math.round(readPssKiB(qemuPid) / 1024)} MiB`);

  const destroyed = await runVeAs(info, user, ['destroy', 'vm1', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.notMatch(await allDomains(), new RegExp(`pbsve-${jobId}`), 'domain gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'disk.qcow2')), 'overlay gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'data-1.qcow2')), 'data disk gone');
  t.ok(existsSync(consoleLog), 'the console log stays for the owner to read');
});

void t.test('--keep-disk: the data disk survives the VE, in the owner\'s kept directory', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, user, ['create', 'vm2', '--type', 'kvm', '--image', 'tinyvm', '--memory', '96', '--disk', '16M', '--keep-disk']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'vm2', 'running', 120_000);
  const destroyed = await runVeAs(info, user, ['destroy', 'vm2', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  const kept = Object.values(info.hosts).map((h) => join(h.stateDir, 'kept', owner, `vm2-${jobId}`, 'data-1.qcow2')).find((f) => existsSync(f)) ?? 'nowhere';
  t.ok(existsSync(kept), `kept at ${kept}`);
  const ids = await runCommand('id', ['-u', owner], {});
  t.equal(statSync(kept).uid, Number(ids.stdout.trim()), 'owned by the owner');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'data-1.qcow2')), 'not left in the job dir');
  const details = JSON.parse((await runVeAs(info, user, ['show', jobId, '--json'])).stdout) as { history: { reason: string }[] };
  t.match(details.history.at(-1)?.reason ?? '', /data disks kept in/, 'the owner is told where');
});

void t.test('an LXC VE gets a console log too, followed by ve console until the VE ends', async (t) => {
  const created = await runVeAs(info, user, ['create', 'ct1', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  const consoleLog = join(findJobDir(info, jobId), 'console.log');
  const firstLineAt = await waitForFirstLine(consoleLog, 90_000);
  await waitForLdapState(info, user, 'ct1', 'running', 90_000);
  const record = readRecord(jobId);
  t.comment(`LXC: prologue start -> first console line ${firstLineAt - Date.parse(record.startedAt ?? '')} ms (poll 20 ms)`);
  const out = await waitForConsole('ct1', /CT-MARKER: container init/, 30_000);
  t.notMatch(out, /\r/, 'no carriage returns from the pty');
  t.equal(statSync(consoleLog).mode & 0o777, 0o600);

  const lxcPid = findPids((c) => c.includes('libvirt_lxc') && c.includes(`--name pbsve-${jobId} `))[0];
  if (lxcPid !== undefined) {
    const kids = childPids(lxcPid);
    const pss = [lxcPid, ...kids].reduce((sum, p) => sum + readPssKiB(p), 0);
    t.comment(`LXC VE: libvirt_lxc + container processes PSS ${Math.round(pss / 1024)} MiB (its console is copied by the host's one ve-host-watch)`);
  }

  const follower = runVeAs(info, user, ['console', 'ct1', '--follow', '--lines', '5'], 120_000);
  await sleep(1000);
  const destroyed = await runVeAs(info, user, ['destroy', 'ct1', '--wait', '60s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  const followed = await follower;
  t.equal(followed.exitCode, 0, followed.stderr);
  t.match(followed.stdout, /CT-(MARKER|HEARTBEAT)/);
  t.match(followed.stderr, /has ended/, '--follow ends with the VE');
  t.notOk(existsSync(findRootfsDir(findJobDir(info, jobId))), 'rootfs copy gone');
});

void t.test('ve console: only your own VEs, sane --lines', async (t) => {
  const r = await runVeAs(info, user, ['console', 'nosuchve']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /name: no VE "nosuchve"/);
  const bad = await runVeAs(info, user, ['console', 'ct1', '--lines', '-3']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /lines: /);
  if (user !== undefined) {
    const other = await runVeAs(info, user, ['console', 'ct1', '--owner', 'root']);
    t.equal(other.exitCode, 2);
    t.match(other.stderr, /owner: only root/);
  }
});

void t.test('image catalog: add, list, remove; refused for users and while in use', async (t) => {
  const rootfs = join(dir, 'images', 'tiny.rootfs');
  // the administrator manages the catalog from the vemon node, the one holding the LDAP write credentials
  const admin = { ...info, env: info.vemonEnv };
  const added = await runVeAs(admin, undefined, ['image', 'add', 'tiny2', rootfs, '--type', 'lxc', '--init', '/bin/sh /init.sh 5', '--os', 'busybox']);
  t.equal(added.exitCode, 0, added.stderr);
  t.match(added.stdout, /recorded in LDAP/);
  const listed = JSON.parse((await runVeAs(info, user, ['image', 'list', '--json'])).stdout) as { name: string; local: boolean; ldap: boolean }[];
  t.same(listed.find((r) => r.name === 'tiny2'), { name: 'tiny2', type: 'lxc', format: 'dir', os: 'busybox', local: true, ldap: true, problem: '' });
  if (user !== undefined) {
    const denied = await runVeAs(info, user, ['image', 'remove', 'tiny2']);
    t.equal(denied.exitCode, 2);
    t.match(denied.stderr, /only root/);
  }
  for (const bad of ['../x', 'a/b', '.hidden', 'x<y']) {
    const r = await runVeAs(info, undefined, ['image', 'add', bad, rootfs, '--type', 'lxc']);
    t.equal(r.exitCode, 2, `image add ${bad}`);
    t.match(r.stderr, /name: /);
  }
  const created = await runVeAs(info, user, ['create', 'uses2', '--type', 'lxc', '--image', 'tiny2', '--memory', '32']);
  t.equal(created.exitCode, 0, created.stderr);
  await waitForLdapState(info, user, 'uses2', 'running', 90_000);
  const inUse = await runVeAs(admin, undefined, ['image', 'remove', 'tiny2']);
  t.equal(inUse.exitCode, 2);
  t.match(inUse.stderr, /in use by VE uses2/);
  await runVeAs(info, user, ['destroy', 'uses2', '--wait', '60s']);
  const removed = await runVeAs(admin, undefined, ['image', 'remove', 'tiny2']);
  t.equal(removed.exitCode, 0, removed.stderr);
  t.notOk(existsSync(join(dir, 'images', 'tiny2')), 'image files gone');
  const after = JSON.parse((await runVeAs(info, user, ['image', 'list', '--json'])).stdout) as { name: string }[];
  t.notOk(after.some((r) => r.name === 'tiny2'), 'gone from list (local and LDAP)');
});

void t.test('hostile specs are refused and leave nothing behind', async (t) => {
  const domainsBefore = await allDomains();
  const jobsBefore = listJobDirs(info).sort();
  const queueBefore = await squeue();
  const base: Record<string, string> = { '--type': 'kvm', '--image': 'tinyvm', '--memory': '96' };
  const cases: [string, Record<string, string | string[]>, RegExp][] = [
    ['a<b>&"\'', {}, /^pbs-ve: error invalid-field: name: /m],
    ['/etc/passwd', {}, /name: /], ['../x', {}, /name: /], ['a/b', {}, /name: /],
    ['ok1', { '--image': "x'/><disk>" }, /image: /], ['ok1', { '--image': '../tinyvm' }, /image: /], ['ok1', { '--image': 'a/b' }, /image: /],
    ['ok1', { '--image': '..' }, /image: /], ['ok1', { '--type': "kvm'><x" }, /type: /], ['ok1', { '--memory': '<128>' }, /memory: /],
    ['ok1', { '--lease': '1h&amp;' }, /lease: /], ['ok1', { '--vcpus': '1"' }, /vcpus: /],
    ['ok1', { '--disk': ['1G<x/>'] }, /disk: /], ['ok1', { '--disk': ['-1'] }, /disk: /], ['ok1', { '--disk': ['999999T'] }, /disk: /],
    ['ok1', { '--disk': ['0'] }, /disk: /], ['ok1', { '--disk': ['1M', '1M', '1M', '1M', '1M'] }, /disk: at most 4/],
    ['ok1', { '--type': 'lxc', '--image': 'tiny', '--disk': ['1G'] }, /disk: data disks are only for --type kvm/],
  ];
  for (const [name, patch, expected] of cases) {
    const opts = { ...base, ...patch };
    const args = ['create', name, ...Object.entries(opts).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, v]))];
    const r = await runVeAs(info, user, args);
    t.equal(r.exitCode, 2, `exit 2 for ${args.join(' ')}`);
    t.match(r.stderr, expected, `message for ${args.join(' ')}`);
  }
  t.equal(await squeue(), queueBefore, 'no job was submitted');

  // past the CLI: hand-made jobs whose spec lines carry what the CLI refuses; the prologue must refuse them
  const forged = [
    { name: 'x', type: 'kvm', image: "tinyvm'/><disk type='file'>", vcpus: 1, memoryMiB: 96, leaseSeconds: 600 },
    { name: "x'><devices>", type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600 },
    { name: 'x', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, disks: [-1] },
    { name: 'x', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, disks: [999999 * 1024 * 1024] },
    { name: 'x', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, disks: [1, 1, 1, 1, 1] },
    // valid as a spec, but larger than any free space: refused by the space check before anything is made
    { name: 'big', type: 'kvm', image: 'tinyvm', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, disks: [16 * 1024 * 1024] },
  ];
  const forgedJobs: string[] = [];
  for (const spec of forged) {
    const token = spec.name === 'big'
      ? encodeVeSpec({ version: 1, name: 'big', type: 'kvm', image: info.images.includes('tinyvm') ? 'tinyvm' : 'tiny', vcpus: 1, memoryMiB: 96, leaseSeconds: 600, disks: spec.disks ?? [] })
      : `v1.${Buffer.from(JSON.stringify(spec)).toString('base64url')}`;
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
    t.match(out, /VE refused by the prologue: /, `job ${jobId}: the owner is told why`);
  }
  const newJobDirs = listJobDirs(info).filter((d) => !jobsBefore.includes(d) && !forgedJobs.includes(d));
  t.same(newJobDirs, [], 'no job dir for anything the CLI refused');
  const sinfo = await runCommand('sinfo', ['-h', '-N', '-o', '%N %T'], { env: info.env });
  t.notMatch(sinfo.stdout, /drain/, 'no node drained by a hostile spec');
});
