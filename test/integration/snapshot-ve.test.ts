// Snapshots of running VEs through op jobs on the VE's host: an LXC container rolled back to a marker,
// another user refused (by the CLI and, for a forged op job, by the prologue), a QEMU (TCG) VE
// snapshotted while running and everything gone with the VE.
import t from 'tap';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { formatOperationLine } from '../../src/operations/encode-ve-operation.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { sleep, waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findRootfsDir } from '../../src/host/ve-disks.js';
import { findJobDir, readHostLogs } from '../harness/sandbox-host-files.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

const OTHER_USER = 'pbsve-user2';
const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-snap-', verbose: true, users: [OTHER_USER],
  ready: (started) => {
    info = started;
  },
});
let info: SandboxInfo;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

async function domainState(uri: string, domain: string): Promise<string> {
  return (await runCommand('virsh', ['-c', uri, 'domstate', domain], { timeoutMs: 20_000 })).stdout.trim();
}

async function jobState(jobId: string): Promise<string> {
  return (await runCommand('squeue', ['-h', '-j', jobId, '-o', '%T'], { env: info.env })).stdout.trim();
}

// Every op job's prologue logs one line, refused or not: the count says how many reached a host.
function countOpLogLines(): number {
  const log = readHostLogs(info, 'pbs-ve.log');
  return (log.match(/ on VE job [0-9]+ for |VE operation refused or failed/g) ?? []).length;
}

// Timed: the op job's whole round trip (submit, prologue on the VE's host, body, output read back).
async function timedVe(who: string | undefined, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const r = await runVeAs(info, who, args);
  return { ...r, ms: Date.now() - started };
}

void t.test('LXC: snapshot, change, rollback: the marker is back and the VE keeps running', async (t) => {
  if (user === undefined) {
    t.plan(0, `skipped: the sandbox user ${DEMO_USER} does not exist`);
    return;
  }
  const created = await runVeAs(info, user, ['create', 'web1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  // a failure half-way must not leave the container holding the host's second cpu for the QEMU test
  t.teardown(async () => { await runCommand('scancel', [jobId], { env: info.env }); });
  await waitForLdapState(info, user, 'web1', 'running', 90_000);
  const details = JSON.parse((await runVeAs(info, user, ['show', 'web1', '--json'])).stdout) as { ve: { host: string } };
  const uri = info.nodes[details.ve.host]?.lxcUri ?? '';
  const domain = `pbsve-${jobId}`;
  const marker = join(findRootfsDir(findJobDir(info, jobId)), 'marker.txt');
  writeFileSync(marker, 'before snapshot\n');

  const snap = await timedVe(user, ['snapshot', 'web1', '--name', 's1']);
  t.equal(snap.exitCode, 0, snap.stderr);
  t.match(snap.stdout, /VE web1 \(job [0-9]+\): snapshot s1 taken \(lxc-copy, [0-9]+ ms\)/);
  t.comment(`LXC: ve snapshot round trip ${snap.ms} ms (${/[0-9]+ ms/.exec(snap.stdout)?.[0] ?? '?'} of it the copy)`);
  t.equal(readFileSync(join(findJobDir(info, jobId), 'snapshots', 's1', 'marker.txt'), 'utf8'), 'before snapshot\n', 'the copy holds the marker');
  // the container's files belong to its id range (user namespace), in the snapshot as in the rootfs
  const range = (JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord).lxcIdMap?.target ?? 0;
  t.ok(range >= 65_536, `the VE has its own id range (${range})`);
  t.equal(lstatSync(join(findJobDir(info, jobId), 'snapshots', 's1', 'bin', 'busybox')).uid, range, 'the snapshot keeps the range\'s ownership');
  t.equal(await domainState(uri, domain), 'running', 'running after the snapshot (frozen only for the copy)');
  const unfrozen = /could not freeze [^\n]*/.exec(readHostLogs(info, 'pbs-ve.log'));
  t.comment(unfrozen === null ? 'LXC: the container was frozen (virsh suspend) during the copy' : `LXC: ${unfrozen[0]}`);

  writeFileSync(marker, 'after snapshot\n');
  const listed = await timedVe(user, ['snapshot', 'list', 'web1']);
  t.equal(listed.exitCode, 0, listed.stderr);
  t.match(listed.stdout, /^NAME\s+KIND\s+TAKEN\s+MS\ns1\s+lxc-copy\s/);
  t.comment(`ve snapshot list round trip ${listed.ms} ms`);
  const json = JSON.parse((await runVeAs(info, user, ['snapshot', 'list', 'web1', '--json'])).stdout) as { snapshots: { name: string; kind: string }[] };
  t.same(json.snapshots.map((s) => [s.name, s.kind]), [['s1', 'lxc-copy']]);

  const again = await runVeAs(info, user, ['snapshot', 'web1', '--name', 's1']);
  t.equal(again.exitCode, 2, 'a taken name is refused');
  t.match(again.stderr, /already has a snapshot named "s1"/);

  const rolled = await timedVe(user, ['rollback', 'web1', 's1']);
  t.equal(rolled.exitCode, 0, rolled.stderr);
  t.match(rolled.stdout, /rolled back to snapshot s1 in [0-9]+ ms \(down [0-9]+ ms\)/);
  t.comment(`LXC: ve rollback round trip ${rolled.ms} ms; ${/rolled back .*/.exec(rolled.stdout)?.[0] ?? ''}`);
  t.equal(readFileSync(marker, 'utf8'), 'before snapshot\n', 'the marker is back');
  t.equal(lstatSync(findRootfsDir(findJobDir(info, jobId))).uid, range, 'the rolled-back rootfs is the range\'s again');
  t.equal(lstatSync(join(findRootfsDir(findJobDir(info, jobId)), 'bin', 'busybox')).gid, range);
  t.equal(await domainState(uri, domain), 'running', 'the container runs again');
  const out = await waitFor('console after rollback', 30_000, async () => {
    const r = await runVeAs(info, user, ['console', 'web1', '--lines', '200']);
    return (r.stdout.match(/CT-MARKER: container init/g) ?? []).length >= 2 ? r.stdout : undefined;
  }, 500);
  t.ok(out, 'the console log goes on after the restart (init printed its marker twice)');
  // the host watcher saw the rollback's Stopped and Started events (it copies the new console only after
  // its look at the Stopped one): it must not have taken the restart for the guest's end
  t.notOk(existsSync(join(findJobDir(info, jobId), 'job-body.end')), 'the watcher did not answer the job body');
  t.equal(await jobState(jobId), 'RUNNING', 'the VE job lives on after the rollback');
  t.equal(await domainState(uri, domain), 'running');
  const history = JSON.parse((await runVeAs(info, user, ['show', 'web1', '--json'])).stdout) as { ve: { state: string }; history: { reason: string; source: string }[] };
  t.equal(history.ve.state, 'running');
  t.ok(history.history.some((h) => h.source === 'operation' && /snapshot s1 taken/.test(h.reason)), 'LDAP history: snapshot');
  t.ok(history.history.some((h) => h.source === 'operation' && /rolled back to snapshot s1/.test(h.reason)), 'LDAP history: rollback');

  const missing = await runVeAs(info, user, ['rollback', 'web1', 'nosuch']);
  t.equal(missing.exitCode, 2);
  t.match(missing.stderr, /no snapshot named "nosuch"/);
  const opsBefore = countOpLogLines();
  for (const bad of ['../x', '.h', 'a/b', "x'y", '-x']) {
    const r = await runVeAs(info, user, ['snapshot', 'web1', `--name=${bad}`]);
    t.equal(r.exitCode, 2, `--name ${bad}`);
    t.match(r.stderr, /snapshot: must be/);
  }
  await sleep(1500);
  t.equal(countOpLogLines(), opsBefore, 'no op job for a bad name');

  // another user: the CLI does not find the VE; a hand-made op job is refused by the prologue
  const other = await runVeAs(info, OTHER_USER, ['snapshot', 'web1', '--name', 'evil']);
  t.equal(other.exitCode, 2, other.stderr);
  t.match(other.stderr, /no VE "web1" owned by pbsve-user2/);
  const otherByJob = await runVeAs(info, OTHER_USER, ['rollback', jobId, 's1']);
  t.equal(otherByJob.exitCode, 2);
  const script = `#!/bin/sh\n${formatOperationLine({ kind: 'rollback', target: jobId, snapshot: 's1' })}\ncat ${join(info.hosts[details.ve.host]?.stateDir ?? '', 'jobs', '${SLURM_JOB_ID}', 'op-result')}\n`;
  const forgedOut = join(dir, 'work', 'forged-op-%j.out');
  const sb = await runCommand('runuser', ['-u', OTHER_USER, '--', 'sbatch', '--parsable', '-p', 'batch', `--nodelist=${details.ve.host}`, '--mem=32M', '--time=5', `--output=${forgedOut}`], { env: info.env, input: script });
  t.equal(sb.exitCode, 0, sb.stderr);
  const forgedId = sb.stdout.trim().split(';')[0] ?? '';
  await waitFor('forged op job to end', 60_000, async () => ((await jobState(forgedId)) === '' ? true : undefined), 300);
  const forged = readFileSync(forgedOut.replace('%j', forgedId), 'utf8');
  t.match(forged, /"ok":false,"code":"permission-denied".*is not yours \(pbsve-user2\): nothing was done/, 'the prologue refuses it');
  writeFileSync(marker, 'changed again\n');
  await sleep(500);
  t.equal(readFileSync(marker, 'utf8'), 'changed again\n', 'no rollback happened');
  t.same(readdirSync(join(findJobDir(info, jobId), 'snapshots')), ['s1'], 'no snapshot was taken or removed');
  t.equal(await jobState(jobId), 'RUNNING');
  const sinfo = await runCommand('sinfo', ['-h', '-N', '-o', '%N %T'], { env: info.env });
  t.notMatch(sinfo.stdout, /drain/, 'no node drained by a refused op');

  const destroyed = await runVeAs(info, user, ['destroy', 'web1', '--wait', '60s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.notOk(existsSync(join(findJobDir(info, jobId), 'snapshots')), 'the snapshot copies are gone with the VE');
  t.notOk(existsSync(findRootfsDir(findJobDir(info, jobId))), 'and the rootfs');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'snapshots.json')), 'and the index');
});

void t.test('QEMU (TCG): an internal snapshot of the running guest; destroy removes everything', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  const created = await runVeAs(info, user, ['create', 'vm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--disk', '16M', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'vm1', 'running', 120_000);
  const details = JSON.parse((await runVeAs(info, user, ['show', 'vm1', '--json'])).stdout) as { ve: { host: string } };
  const uri = info.nodes[details.ve.host]?.qemuUri ?? '';
  const domain = `pbsve-${jobId}`;
  await waitFor('guest init', 90_000, () => (readFileSync(join(findJobDir(info, jobId), 'console.log'), 'utf8').includes('VE-MARKER: init started') ? true : undefined), 250);

  const snap = await timedVe(user, ['snapshot', 'vm1', '--name', 'q1']);
  t.equal(snap.exitCode, 0, snap.stderr);
  t.match(snap.stdout, /snapshot q1 taken \(qemu-internal, [0-9]+ ms\)/);
  t.comment(`QEMU TCG (128 MiB): ve snapshot round trip ${snap.ms} ms; ${/snapshot q1 taken.*/.exec(snap.stdout)?.[0] ?? ''}`);
  t.equal(await domainState(uri, domain), 'running', 'the guest runs on after the snapshot');
  const virshList = (await runCommand('virsh', ['-c', uri, 'snapshot-list', domain, '--name'], {})).stdout;
  t.match(virshList, /^q1$/m, 'libvirt knows the snapshot');
  const listed = await runVeAs(info, user, ['snapshot', 'list', 'vm1']);
  t.equal(listed.exitCode, 0, listed.stderr);
  t.match(listed.stdout, /q1\s+qemu-internal/);

  const rolled = await timedVe(user, ['rollback', 'vm1', 'q1']);
  t.equal(rolled.exitCode, 0, rolled.stderr);
  t.comment(`QEMU TCG: ve rollback round trip ${rolled.ms} ms; ${/rolled back .*/.exec(rolled.stdout)?.[0] ?? ''}`);
  t.equal(await domainState(uri, domain), 'running', 'running after the revert');
  // the watcher looks at the revert's events; its answer to the job body would end the job
  await sleep(3000);
  t.notOk(existsSync(join(findJobDir(info, jobId), 'job-body.end')), 'the watcher did not answer the job body');
  t.equal(await jobState(jobId), 'RUNNING', 'the VE job lives on');

  const destroyed = await runVeAs(info, user, ['destroy', 'vm1', '--wait', '90s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  const all = (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], {})).stdout;
  t.notMatch(all, new RegExp(domain), 'domain (with its snapshot metadata) undefined');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'disk.qcow2')), 'overlay (with the snapshot inside) gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'data-1.qcow2')), 'data disk gone');
  t.notOk(existsSync(join(findJobDir(info, jobId), 'snapshots.json')), 'index gone');
  const sinfo = await runCommand('sinfo', ['-h', '-N', '-o', '%N %T'], { env: info.env });
  t.notMatch(sinfo.stdout, /drain/, 'the epilogue did not fail on the snapshot');
});
