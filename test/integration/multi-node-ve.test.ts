// A VE of two nodes on the real sandbox: the Prolog of each allocated node (Slurm PrologFlags=Alloc;
// TORQUE prologue on the mother superior, prologue.parallel on the sister) realizes its part (first host
// part 0 pbsve-<job>, second host part 1 pbsve-<job>_p1) through that node's own libvirtd, LDAP holds
// the VE and one entry per part, and each node's epilogue tears down its own part.
// backends: slurm torque
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findRootfsDir } from '../../src/host/ve-disks.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';

interface Row { name: string; state: string; host: string; jobId: string; nodes: number; vcpus: number; memoryMiB: number }
interface Part { part: number; state: string; host: string; domain: string }

useSandbox(t, {
  prefix: '/tmp/pbsve-multi-',
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
  },
});
let info: SandboxInfo;
let control: BatchControl;
const jobDir = (host: string, name: string): string => join(info.hosts[host]?.stateDir ?? '', 'jobs', name);
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

async function virshList(node: string): Promise<string> {
  const uri = info.nodes[node]?.lxcUri ?? '';
  return (await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], { timeoutMs: 20_000 })).stdout;
}

async function domState(node: string, domain: string): Promise<string> {
  return (await runCommand('virsh', ['-c', info.nodes[node]?.lxcUri ?? '', 'domstate', domain], { timeoutMs: 20_000 })).stdout.trim();
}

async function rows(): Promise<Row[]> {
  const r = await runVeAs(info, user, ['list', '--json', '--all']);
  if (r.exitCode !== 0) throw new Error(`ve list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Row[];
}

void t.test('more nodes than the cluster has hosts with the feature is refused before submission', async (t) => {
  const r = await runVeAs(info, user, ['create', 'big1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--nodes', '3']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /nodes: must be a whole number from 1 to 2/);
});

void t.test('ve create --nodes 2: one part per node, both running in LDAP, ve destroy removes both', async (t) => {
  const t0 = Date.now();
  const created = await runVeAs(info, user, ['create', 'pair1', '--type', 'lxc', '--image', 'tiny', '--vcpus', '1', '--memory', '64', '--lease', '1h', '--nodes', '2']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.match(jobId, control.jobIdPattern);

  const msToRunning = await waitForLdapState(info, user, 'pair1', 'running', 120_000);
  t.comment(`ve create --nodes 2 -> LDAP running (both parts): ${Date.now() - t0} ms (poll ${msToRunning} ms)`);
  const job = await control.batch.getJob(jobId);
  t.equal(job?.state, 'running', 'one job');
  t.same([...(job?.execHosts ?? [])].sort(), ['node1', 'node2'], 'on two nodes');
  // part 0 is the first host of the allocation (Slurm's node list, TORQUE's mother superior)
  const [first = 'node1', second = 'node2'] = job?.execHosts ?? [];

  t.equal(await domState(first, `pbsve-${jobId}`), 'running', `part 0 on ${first}'s libvirtd`);
  t.equal(await domState(second, `pbsve-${jobId}_p1`), 'running', `part 1 on ${second}'s libvirtd`);
  t.notMatch(await virshList(first), new RegExp(`pbsve-${jobId}_p1`), `part 1 only on ${second}`);
  t.notMatch(await virshList(second), new RegExp(`^pbsve-${jobId}$`, 'm'), `part 0 only on ${first}`);
  t.ok(existsSync(join(jobDir(first, jobId), 've.json')) && existsSync(join(jobDir(second, `${jobId}_p1`), 've.json')),
    'one record per part, each in its own host\'s state directory');
  t.notOk(existsSync(jobDir(second, jobId)) || existsSync(jobDir(first, `${jobId}_p1`)), 'no host holds the other\'s part');

  const inv = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn });
  t.teardown(() => inv.close());
  const parts = await inv.listParts?.(jobId) ?? [];
  t.same(parts.map((p) => [p.part, p.state, p.host, p.domain]), [[0, 'running', first, `pbsve-${jobId}`], [1, 'running', second, `pbsve-${jobId}_p1`]]);
  const ve = await inv.getVe(jobId);
  t.equal(ve?.nodes, 2);
  t.equal(ve?.host, first);

  const row = (await rows()).find((r) => r.jobId === jobId);
  t.equal(row?.nodes, 2, 've list: the node count');
  t.equal(row?.vcpus, 1, 've list: vcpus per node');
  const show = await runVeAs(info, user, ['show', 'pair1']);
  t.equal(show.exitCode, 0, show.stderr);
  t.match(show.stdout, /nodes: +2/);
  t.match(show.stdout, new RegExp(`part 0 +running +${first} +pbsve-${jobId} `));
  t.match(show.stdout, new RegExp(`part 1 +running +${second} +pbsve-${jobId}_p1 `));
  const json = JSON.parse((await runVeAs(info, user, ['show', 'pair1', '--json'])).stdout) as { parts: Part[]; history: { state: string; part?: number }[] };
  t.equal(json.parts.length, 2);
  t.same(json.history.map((h) => `${h.part ?? '-'}:${h.state}`).sort(), ['0:running', '1:running']);

  // the first host's watcher keeps the job while both parts run (it reads the parts every 10 s)
  await new Promise((r) => setTimeout(r, 12_000));
  t.equal((await inv.getVe(jobId))?.state, 'running', 'still running after a read of the parts by the host watcher');

  const t1 = Date.now();
  const destroyed = await runVeAs(info, user, ['destroy', 'pair1', '--wait', '120s']);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  t.comment(`ve destroy -> LDAP destroyed: ${Date.now() - t1} ms`);
  await waitFor('both parts destroyed in LDAP', 60_000, async () => {
    const p = await inv.listParts?.(jobId) ?? [];
    return p.length === 2 && p.every((x) => x.state === 'destroyed') ? true : undefined;
  });
  t.equal((await inv.getVe(jobId))?.state, 'destroyed');
  t.notMatch(await virshList('node1'), new RegExp(`pbsve-${jobId}`), 'node1: part 0 gone');
  t.notMatch(await virshList('node2'), new RegExp(`pbsve-${jobId}`), 'node2: part 1 gone');
  t.notOk(existsSync(findRootfsDir(jobDir(second, `${jobId}_p1`))), 'part 1\'s disk removed');
  t.notOk(existsSync(findRootfsDir(jobDir(first, jobId))), 'part 0\'s disk removed');
  const history = JSON.parse((await runVeAs(info, user, ['show', jobId, '--json'])).stdout) as { history: { state: string; part?: number; reason: string }[] };
  t.same(history.history.map((h) => `${h.part ?? '-'}:${h.state}`).sort(), ['0:destroyed', '0:running', '1:destroyed', '1:running']);
  // issue 9, defect 11: what each part says about a cancellation (the sister asks the batch system when it cannot tell)
  for (const h of history.history.filter((x) => x.state === 'destroyed')) t.comment(`part ${String(h.part)} destroyed: ${h.reason}`);
  t.notOk(history.history.some((h) => /exit status 0\): cancelled or lease expired/.test(h.reason)), 'no part says "exit status 0: cancelled or lease expired"');
  const ended = (part: number): string => history.history.find((h) => h.state === 'destroyed' && (h.part ?? 0) === part)?.reason ?? '';
  t.notMatch(ended(1), /exit status/, 'the sister quotes no exit status');
  if (control.kind === 'torque') {
    t.match(ended(0), /job deleted \(qdel\/scancel\)/, 'the first part knows: deleted (its epilogue gets 271)');
    // TORQUE gives a sister's epilogue.parallel exit status 0 whatever happened (IM_KILL_JOB carries none),
    // and the server has the job's 271 only from the obit, which follows the sisters' epilogues: the
    // sister says what it knows and where the cause is, without guessing one
    t.match(ended(1), /ended with the VE's first part: deleted there, or a part of the VE stopped \(the first part's history says which\)/, 'the sister points to the first part, guessing nothing');
    const job = await waitFor(`job ${jobId} completed`, 60_000, async () => {
      const j = await control.batch.getJob(jobId);
      return j?.state === 'completed' ? j : undefined;
    });
    t.equal(job.exitStatus, 271, 'the server\'s exit_status, once the obit arrived: 271 (deleted)');
  } else {
    // Slurm's Epilog sees exit 0 after scancel, and the job was not yet CANCELLED when it asked (seen live):
    // a part that cannot tell a cancellation from another part's end says so (or says deleted, when told)
    t.match(ended(0), /the batch system did not say which|job deleted \(qdel\/scancel\)/, 'the first part says it cannot tell, or deleted');
    t.match(ended(1), /ended with the VE's first part|job deleted \(qdel\/scancel\)/, 'the second part points to the first, or says deleted');
  }
});
