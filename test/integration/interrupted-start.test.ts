// A VE job interrupted while its prologue runs, on a live batch system (issue 9, defects 7 and 10):
// qdel while the prologue waits for libvirt, before its domain exists and after, ends the VE destroyed
// with no domain left and no ve-failed alert; a host fault after a requeue is retried, not counted from
// the batch system's start count. The prologue is held mid-way by really stopping the host's libvirtd
// (SIGSTOP: its clients block, as with a hung daemon), never by a sleep.
// backends: slurm torque
import t, { type Test } from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { readVeJobRecord } from '../../src/host/ve-job-record.js';
import { readVeHostFaults } from '../../src/host/ve-host-faults.js';
import { isProcessAlive } from '../../src/core/is-process-alive.js';
import { killSandboxLibvirtd, startSandboxLibvirtd } from '../harness/sandbox-daemons.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { waitFor } from '../harness/wait-for.js';
import { TEST_BATCH, useSandbox } from '../harness/use-sandbox.js';

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-interrupt-',
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
    inventory = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn, bindDn: info.writerDn, password: info.writerPassword });
    // a fake alert command (a script that logs) on the vemon node: a cancellation must not raise ve-failed
    const alertScript = join(dir, 'bin', 'alert.sh');
    writeFileSync(alertScript, `#!/bin/sh\n{ echo "ALERT kind=$PBS_VE_ALERT_KIND key=$PBS_VE_ALERT_KEY"; cat; } >> ${alertLog}\n`);
    chmodSync(alertScript, 0o755);
    // the alert runs as the vemon account (pbsve on TORQUE): the test's log must take its lines
    writeFileSync(alertLog, '', { mode: 0o666 });
    chmodSync(alertLog, 0o666);
    const file = join(info.vemonConfigDir, 'config.json');
    writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), alertCommand: [alertScript] }, null, 2));
  },
  beforeStop: async () => {
    // nothing this file stopped may stay stopped: the cluster's stop would wait for it
    for (const pid of stopped) if (isProcessAlive(pid)) process.kill(pid, 'SIGCONT');
    if (libvirtdKilled) await startSandboxLibvirtd(dir, 'node1').catch((err: unknown) => { console.error(String(err)); });
    await inventory.close();
  },
});
const alertLog = join(dir, 'alerts.log');
let info: SandboxInfo;
let control: BatchControl;
let inventory: Inventory;
const stopped = new Set<number>();
let libvirtdKilled = false;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

// The prologue's record of the VE on `host`, once it wrote one.
function readStartStatus(host: string, jobId: string): string | undefined {
  try {
    return readVeJobRecord(stateDir(host), jobId)?.status;
  } catch {
    return undefined;
  }
}

function stopProcess(pid: number): void {
  stopped.add(pid);
  process.kill(pid, 'SIGSTOP');
}

function continueProcess(pid: number): void {
  process.kill(pid, 'SIGCONT');
  stopped.delete(pid);
}

async function virshList(node: string): Promise<string> {
  return (await runCommand('virsh', ['-c', info.nodes[node]?.lxcUri ?? '', 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
}

function readLibvirtdPid(node: string): number {
  return Number(readFileSync(join(dir, 'libvirt', node, 'run', 'libvirtd.pid'), 'utf8').trim());
}

const stateDir = (host: string): string => info.hosts[host]?.stateDir ?? '';

// TORQUE runs the epilogue of a job deleted during its prologue at once, concurrently: it has begun when
// it left its word for the prologue. Slurm runs the Epilog only after the Prolog: nothing to wait for.
async function waitForConcurrentEpilogue(jobId: string, host: string): Promise<void> {
  if (control.kind !== 'torque') return;
  await waitFor(`the epilogue of ${jobId} to begin on ${host}`, 60_000, () => (existsSync(join(stateDir(host), 'jobs', jobId, `ending-${host}`)) ? true : undefined), 20);
}

// What every cancelled start must leave: destroyed in LDAP, never failed, no domain, no ve-failed alert.
async function checkCancelled(t: Test, name: string, jobId: string, host: string): Promise<void> {
  await waitForLdapState(info, user, name, 'destroyed', 120_000);
  const history = await inventory.listHistory(jobId);
  t.comment(`history ${jobId}: ${history.map((h) => `${h.state} ${h.source}: ${h.reason}`).join(' | ')}`);
  t.notOk(history.some((h) => h.state === 'failed'), 'never failed');
  t.equal(history.at(-1)?.state, 'destroyed');
  await waitFor(`job ${jobId} to end`, 60_000, async () => ((await control.isJobDone(jobId)) ? true : undefined));
  t.notMatch(await virshList(host), new RegExp(`pbsve-${jobId}`), 'no domain left, defined or running');
  t.notOk(existsSync(join(stateDir(host), 'jobs', jobId, 'rootfs')) || existsSync(join(stateDir(host), 'jobs', jobId, 'private')), 'no disk left');
  t.notMatch(readFileSync(alertLog, 'utf8'), new RegExp(`kind=ve-failed key=${jobId.replaceAll('.', '\\.')}\\n`), 'no ve-failed alert');
  t.same(await control.listUnavailableNodes(), [], 'no node taken out');
  const record = readVeJobRecord(stateDir(host), jobId);
  t.comment(`host record: ${record?.status ?? '(none)'}: ${record?.reason ?? ''}`);
}

// Both VEs of a subtest on node1: node2 takes no job meanwhile.
async function onNode1Only<T>(fn: () => Promise<T>): Promise<T> {
  await control.drainNode('node2', 'interrupted-start test placement');
  try {
    return await fn();
  } finally {
    await control.resumeNode('node2');
  }
}

void t.test('qdel while the prologue waits for libvirt, before the domain exists: destroyed, nothing left', async (t) => {
  const libvirtd = readLibvirtdPid('node1');
  const { jobId } = await onNode1Only(async () => {
    stopProcess(libvirtd);
    try {
      const created = await runVeAs(info, user, ['create', 'qd1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
      t.equal(created.exitCode, 0, created.stderr);
      const id = created.stdout.trim();
      // the record says starting just before the prologue's first libvirt call, which the stopped libvirtd holds
      await waitFor('the prologue to reach node1\'s stopped libvirtd', 120_000, () => (readStartStatus('node1', id) === 'starting' ? true : undefined), 20);
      const t0 = Date.now();
      const d = await runVeAs(info, user, ['destroy', 'qd1']);
      t.equal(d.exitCode, 0, d.stderr);
      await waitForConcurrentEpilogue(id, 'node1');
      t.comment(`ve destroy -> epilogue begun: ${Date.now() - t0} ms`);
      t.equal(readStartStatus('node1', id), 'starting', 'the prologue was still held when the epilogue began');
      return { jobId: id };
    } finally {
      continueProcess(libvirtd);
    }
  });
  await checkCancelled(t, 'qd1', jobId, 'node1');
  // on TORQUE the prologue itself saw the deletion and undid what it made
  if (control.kind === 'torque') t.match((await inventory.listHistory(jobId)).map((h) => h.reason).join('\n'), /was deleted while its VE was starting/, 'stopped by the prologue');
});

void t.test('qdel once the domain is defined, while the prologue still runs: destroyed, nothing left', async (t) => {
  const libvirtd = readLibvirtdPid('node1');
  const { jobId } = await onNode1Only(async () => {
    const created = await runVeAs(info, user, ['create', 'qd2', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
    t.equal(created.exitCode, 0, created.stderr);
    const id = created.stdout.trim();
    // the domain is defined: libvirtd stops, holding whatever the prologue asks next (start, state, XML)
    await waitFor('the prologue to define the domain', 120_000, async () => ((await virshList('node1')).includes(`pbsve-${id}`) ? true : undefined), 0);
    stopProcess(libvirtd);
    try {
      const held = readStartStatus('node1', id);
      t.comment(`prologue record when libvirtd stopped: ${held ?? '(none)'}`);
      const d = await runVeAs(info, user, ['destroy', 'qd2']);
      t.equal(d.exitCode, 0, d.stderr);
      await waitForConcurrentEpilogue(id, 'node1');
    } finally {
      continueProcess(libvirtd);
    }
    return { jobId: id };
  });
  await checkCancelled(t, 'qd2', jobId, 'node1');
});

const FAULT_TEST_SLURM_SKIP = 'TORQUE only: on Slurm a failing Prolog drains the node and requeues+holds the job by Slurm\'s own policy; pbs-ve bounds no retries there and no start count is involved';

// TORQUE's start_count also rises with every qrerun: counted as host faults, the first fault after a requeue
// aborted the job and took its host offline. On Slurm a failing Prolog makes Slurm itself drain the node and
// requeue+hold the job (its policy, no pbs-ve bound and no start count involved): nothing of defect 10 applies.
void t.test('a host fault after requeues is retried: the job goes back to the queue, its host stays in', { skip: TEST_BATCH === 'torque' ? false : FAULT_TEST_SLURM_SKIP }, async (t) => {
  const bin = info.torque?.binDir ?? '/opt/torque/bin';
  const qmgr = (c: string): Promise<unknown> => runCommand(join(bin, 'qmgr'), ['-c', c], { env: info.env, timeoutMs: 30_000 });
  const qrun = async (id: string): Promise<void> => {
    const r = await runCommand(join(bin, 'qrun'), ['-H', 'node1', id], { env: info.env, timeoutMs: 60_000 });
    t.equal(r.exitCode, 0, `qrun -H node1 ${id} ${r.stderr.trim()}`);
  };
  const requeue = async (id: string): Promise<void> => {
    await control.batch.requeue(id);
    await waitFor(`job ${id} queued again, its domain gone`, 120_000, async () => ((await control.batch.getJob(id))?.state === 'queued' && !(await virshList('node1')).includes(`pbsve-${id}`) ? true : undefined));
  };
  const created = await onNode1Only(async () => {
    const c = await runVeAs(info, user, ['create', 'hfb1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
    t.equal(c.exitCode, 0, c.stderr);
    await waitForLdapState(info, user, 'hfb1', 'running', 120_000);
    return c;
  });
  const id = created.stdout.trim();
  // from here each start is one qrun (the scheduler starts nothing, event jobs included, until the end)
  await qmgr('set server scheduling = False');
  t.teardown(() => qmgr('set server scheduling = True'));
  // two requeues and a healthy start between them: TORQUE's start_count is 3 at the start that meets the fault
  await requeue(id);
  await qrun(id);
  await waitFor('the VE realized again on node1', 120_000, () => (readVeJobRecord(stateDir('node1'), id)?.status === 'realized' && readVeJobRecord(stateDir('node1'), id)?.startCount === 2 ? true : undefined));
  await requeue(id);
  // node1's libvirtd dies: the next start there meets a host fault
  libvirtdKilled = true;
  t.ok(await killSandboxLibvirtd(dir, 'node1'), 'node1\'s libvirtd killed');
  await qrun(id);
  const faults = await waitFor('the host fault to be counted', 120_000, () => {
    const all = readVeHostFaults(stateDir('node1'), id);
    return all.length > 0 ? all : undefined;
  });
  t.equal(faults.length, 1, 'one host fault counted for this job');
  t.ok((faults.at(-1)?.startCount ?? 0) >= 3, `while TORQUE's start_count was ${faults.at(-1)?.startCount ?? 0} (two starts and two requeues before)`);
  const back = await waitFor(`job ${id} back in the queue`, 60_000, async () => {
    const job = await control.batch.getJob(id);
    return job?.state === 'queued' || job?.state === 'completed' ? job : undefined;
  });
  t.equal(back.state, 'queued', 'requeued, not aborted');
  const node1 = (await control.listNodes()).find((n) => n.name === 'node1');
  t.notOk(node1?.state === 'offline' || node1?.state === 'down', `node1 not taken offline by its first fault (${node1?.rawState ?? '?'} ${node1?.note ?? ''})`);
  // the host is repaired: the job runs again there
  await startSandboxLibvirtd(dir, 'node1');
  libvirtdKilled = false;
  await control.drainNode('node2', 'interrupted-start test placement');
  t.teardown(() => control.resumeNode('node2'));
  await qmgr('set server scheduling = True');
  // the events held back while nothing was scheduled arrive now: the fault's, then the new start's
  const isRetryNote = (h: { state: string; reason: string }): boolean => h.state === 'starting' && /host fault on node1, the job goes back to the queue/.test(h.reason);
  const history = await waitFor('the retry and the VE running again in LDAP', 180_000, async () => {
    const all = await inventory.listHistory(id);
    const note = all.findIndex(isRetryNote);
    return note >= 0 && all.at(-1)?.state === 'running' && all.length > note + 1 ? all : undefined;
  }, 1000);
  t.comment(`history ${id}: ${history.map((h) => `${h.state} ${h.source}: ${h.reason}`).join(' | ')}`);
  t.ok(history.some(isRetryNote), 'the owner read that it would be retried');
  t.notOk(history.some((h) => h.state === 'failed'), 'never failed');
  t.equal((await control.batch.getJob(id))?.state, 'running');
  const d = await runVeAs(info, user, ['destroy', 'hfb1', '--wait', '90s']);
  t.equal(d.exitCode, 0, d.stderr);
  t.notMatch(await virshList('node1'), new RegExp(`pbsve-${id}`));
});
