// The shipped example examples/three-tier-web.yaml end to end (issue 13), as an ordinary user: ve cluster up
// of a balancer, two web members and a key-value store, each serving what its role's `run` script started;
// the balancer answers from inside another member with a value from the store; shop-web1 destroyed behind
// the cluster's back, the balancer keeps answering (shop-web2) while ve-monitor clusters (root's cron on the
// vemon node) recreates web1, whose boot script makes it serve again; ve cluster down leaves nothing.
// Then a QEMU member (tinyvm) runs its role's script from its cloud-init seed.
// Figures: cluster up -> first balancer answer; web1 gone -> web1 answering through the balancer again.
// backends: slurm torque
import t from 'tap';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVeAs } from '../../src/sandbox/run-demo.js';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { useClusterSandbox } from '../harness/use-cluster-sandbox.js';
import { runClusterPass } from '../harness/run-cluster-pass.js';
import type { BatchControl } from '../harness/batch-control.js';
import { waitFor } from '../harness/wait-for.js';
import { findJobDir } from '../harness/sandbox-host-files.js';
import { findContainerInit } from '../harness/find-container-init.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';
import type { ClusterMemberStatus, ClusterStatus } from '../../src/clusters/show-cluster-status.js';

const USER = 'pbsve-user1';
const MEMBERS = ['shop-db', 'shop-lb', 'shop-web1', 'shop-web2'];
const STOCK = '42 widgets in stock';
let info: SandboxInfo;
let control: BatchControl;

const cluster = useClusterSandbox(t, {
  prefix: '/tmp/pbsve-3tier-', user: USER,
  ready: (started, batchControl) => { info = started; control = batchControl; },
});
const { ve, figures } = cluster;


const status = (): Promise<ClusterStatus> => cluster.status('shop');

async function member(name: string): Promise<ClusterMemberStatus> {
  const m = (await status()).members.find((x) => x.name === name);
  if (m === undefined) throw new Error(`cluster shop has no member ${name}`);
  return m;
}

// A client inside the cluster: shop-db's root asks the balancer by its /etc/hosts name, with a clean
// environment (the test's own proxy variables would send busybox wget elsewhere).
async function askBalancer(client: ClusterMemberStatus): Promise<{ ok: boolean; text: string }> {
  const pid = await findContainerInit(info.nodes[client.host]?.lxcUri ?? '', `pbsve-${client.jobId}`);
  if (pid === undefined) throw new Error(`no init process for ${client.name} (pbsve-${client.jobId}) on ${client.host}`);
  const r = await runCommand('nsenter', ['--target', String(pid), '--all', '--root', '--wd', '-S', '0', '-G', '0',
    '/bin/env', '-i', 'PATH=/bin', '/bin/timeout', '15', '/bin/wget', '-q', '-O', '-', 'http://shop-lb/cgi-bin/shop'], { timeoutMs: 30_000 });
  return { ok: r.exitCode === 0, text: r.exitCode === 0 ? r.stdout.trim() : `exit ${r.exitCode}: ${r.stderr.trim()}` };
}

function consoleOf(m: ClusterMemberStatus): string {
  const log = join(findJobDir(info, m.jobId), 'console.log');
  return existsSync(log) ? readFileSync(log, 'utf8') : '';
}

void t.test('the three-tier example serves through the balancer, also while a web member is recreated', async (t) => {
  const file = join(info.dir, 'work', 'three-tier-web.yaml');
  copyFileSync(join(PROJECT_DIR, 'examples/three-tier-web.yaml'), file);
  const t0 = Date.now();
  const up = await ve(['cluster', 'up', file, '--json']);
  t.equal(up.exitCode, 0, up.stderr);
  const planned = JSON.parse(up.stdout) as { members: { name: string; address: string }[] };
  t.same(planned.members.map((m) => m.name).sort(), MEMBERS, 'the four members of the example');

  const running = await waitFor('every member running', 480_000, async () => {
    const s = await status();
    return s.members.length === MEMBERS.length && s.members.every((m) => m.state === 'running') ? s : undefined;
  }, 1000);
  const db = running.members.find((m) => m.name === 'shop-db');
  if (db === undefined) throw new Error('no shop-db');
  const first = await waitFor('the first answer through the balancer', 120_000, async () => {
    const a = await askBalancer(db);
    return a.ok ? a : undefined;
  }, 1000);
  figures.push(`cluster up -> first balancer answer (4 LXC members): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.equal(first.text, `shop-web1: ${STOCK}`, 'web1 answers with the store\'s value, through the balancer');
  for (const m of running.members) t.match(consoleOf(m), /CT-MARKER: boot script exit 0/, `${m.name}'s boot script ran to its end (console)`);

  t.same((await runClusterPass(info)).map((f) => f.action), ['recorded'], 've-monitor knows the cluster');

  // behind the cluster's back: web1's VE destroyed; the balancer goes on with web2
  const web1 = await member('shop-web1');
  const gone = Date.now();
  const destroyed = await ve(['destroy', 'shop-web1', '--wait', '3m']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  const destroyedAt = Date.now();
  const answers: { ok: boolean; text: string }[] = [];
  for (let i = 0; i < 3; i++) answers.push(await askBalancer(db));
  t.same(answers.map((a) => a.text), Array(3).fill(`shop-web2: ${STOCK}`), 'web1 away: every answer from web2');

  const recreated = await waitFor('ve-monitor clusters to recreate shop-web1', 300_000, async () => {
    answers.push(await askBalancer(db));
    return (await runClusterPass(info)).find((f) => f.action === 'recreated');
  }, 2000);
  t.match(recreated.detail, /recreated shop-web1 \(job /);
  const recreatedAt = Date.now();
  const back = await waitFor('shop-web1 answering through the balancer again', 480_000, async () => {
    const a = await askBalancer(db);
    answers.push(a);
    return a.text.startsWith('shop-web1:') ? a : undefined;
  }, 1000);
  const s = (from: number, to: number): string => `${((to - from) / 1000).toFixed(1)} s`;
  figures.push(`shop-web1 destroyed -> answering through the balancer again: ${s(gone, Date.now())} (ve destroy --wait ${s(gone, destroyedAt)}, `
    + `then ve-monitor clusters passes every 2 s until it resubmits ${s(destroyedAt, recreatedAt)}, resubmitted -> serving ${s(recreatedAt, Date.now())}; ${answers.length} balancer answers meanwhile)`);
  t.equal(back.text, `shop-web1: ${STOCK}`, 'the recreated web1 serves again (its boot script came with its spec)');
  const failed = answers.filter((a) => !a.ok || !/^shop-web[12]: /.test(a.text));
  t.same(failed, [], `every one of ${answers.length} balancer answers during the outage succeeded`);
  const again = await member('shop-web1');
  t.not(again.jobId, web1.jobId, 'web1 is a new job');
  t.equal(again.clusterAddress, web1.clusterAddress, 'with its address kept');

  const down = await ve(['cluster', 'down', 'shop']);
  t.equal(down.exitCode, 0, down.stderr);
  await waitFor('every member destroyed', 300_000, async () => {
    const r = await ve(['list', '--json']);
    return (JSON.parse(r.stdout) as { name: string }[]).some((x) => x.name.startsWith('shop-')) ? undefined : true;
  }, 1000);
  t.same((await runClusterPass(info)).map((f) => f.action), ['down'], 'recorded down, nothing recreated');
  t.same((await control.listJobs()).filter((j) => j.owner === USER && j.state !== 'completed').map((j) => j.jobId), [], 'no job left');
  for (const host of ['node1', 'node2']) {
    const r = await runCommand('virsh', ['-q', '-c', info.nodes[host]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 30_000 });
    t.equal(r.stdout.trim(), '', `no domain left on ${host}`);
  }
  t.comment(figures.join('\n'));
});

// QEMU members get the script through their cloud-init seed (a per-boot script), so only from a cloud-init image:
// the administrator registers the sandbox's tinyvm again as one (as cloud-init-ve.test.ts does); its init runs it.
void t.test('a QEMU member runs its role\'s boot script from its cloud-init seed (tinyvm)', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const manifest = (image: string): string => `name: vm\nlease: 1h\nroles:\n  - role: box\n    type: kvm\n    image: ${image}\n    memory: 96M\n    run: |\n      echo "pbs-ve boot script on $(hostname): $((6 * 7))"\n`;
  const plain = join(info.dir, 'work', 'vm-plain.yaml');
  writeFileSync(plain, manifest('tinyvm'), { mode: 0o644 });
  const refused = await ve(['cluster', 'up', plain]);
  t.equal(refused.exitCode, 2, 'an image without cloud-init: refused before anything is submitted');
  t.match(refused.stderr, /run: image "tinyvm" is a QEMU image that reads no cloud-init seed/);
  t.same((await control.listJobs()).filter((j) => j.owner === USER && j.state !== 'completed'), [], 'no job submitted');

  const images = join(info.dir, 'images', 'tinyvm');
  const added = await runVeAs({ ...info, env: info.vemonEnv }, undefined, ['image', 'add', 'tinyci', join(images, 'base.qcow2'), '--type', 'kvm', '--kernel', join(images, 'vmlinuz'),
    '--initrd', join(images, 'initramfs.cpio.gz'), '--cmdline', 'console=ttyS0 panic=-1', '--os', 'busybox', '--cloud-init']);
  t.equal(added.exitCode, 0, added.stderr);
  const file = join(info.dir, 'work', 'vm.yaml');
  writeFileSync(file, manifest('tinyci'), { mode: 0o644 });
  const t0 = Date.now();
  const up = await ve(['cluster', 'up', file, '--wait', '8m'], 600_000);
  t.equal(up.exitCode, 0, up.stderr);
  const box = await waitFor('vm-box running', 300_000, async () => {
    const r = await ve(['cluster', 'status', 'vm', '--json']);
    const m = (JSON.parse(r.stdout) as ClusterStatus).members.find((x) => x.name === 'vm-box');
    return m?.state === 'running' ? m : undefined;
  }, 1000);
  await waitFor('the boot script\'s end on vm-box\'s console', 300_000, () => (/VE-MARKER: boot script exit 0/.test(consoleOf(box)) ? true : undefined), 1000);
  figures.push(`cluster up -> the QEMU member's boot script done (tinyvm, TCG): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.match(consoleOf(box), /VE-MARKER: seed boot-script bytes=\d+/, 'the seed brought it');
  t.match(consoleOf(box), /pbs-ve boot script on vm-box: 42/, 'it ran inside the guest, after the seed\'s hostname');
  const down = await ve(['cluster', 'down', 'vm']);
  t.equal(down.exitCode, 0, down.stderr);
  await waitFor('cluster vm gone', 300_000, async () => ((await control.listJobs()).some((j) => j.owner === USER && j.state !== 'completed') ? undefined : true), 1000);
});
