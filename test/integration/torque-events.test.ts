// Issue 9, defects 2, 3, 4 and 9 on a live TORQUE 6.1 (always the TORQUE sandbox): event jobs land on
// the vemon node only, run as pbsve even without a login shell, discard their output (never a name in
// /tmp a user can create), and pbsve checks what events claim against other users' jobs, failing
// closed when it cannot.
import t from 'tap';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openBatch, openEventSink } from '../../src/config/open-adapters.js';
import { openEventJournal } from '../../src/events/event-journal.js';
import { hostJournalPath } from '../../src/events/flush-host-journal.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { EVENT_ACCOUNT, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { waitFor } from '../harness/wait-for.js';

const USER = 'pbsve-tev';
let info: SandboxInfo;
let reader: Inventory;
let control: BatchControl;
let shellBefore = '/bin/sh';
const sandbox = useSandbox(t, {
  prefix: '/tmp/pbsve-tev-', batch: 'torque', users: [USER],
  ready: async (started) => {
    info = started;
    reader = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn });
    control = openBatchControl(info);
    shellBefore = (await runCommand('getent', ['passwd', EVENT_ACCOUNT], {})).stdout.trim().split(':')[6] ?? '/bin/sh';
  },
  beforeStop: async () => {
    await runCommand('usermod', ['-s', shellBefore, EVENT_ACCOUNT], {});
    await runCommand(join(info.torque?.binDir ?? '/opt/torque/bin', 'qmgr'), ['-c', 'set server query_other_jobs = True'], { env: info.env });
    await reader.close();
  },
});
const MONITOR = join(process.cwd(), 'dist/src/ve-monitor/main.js');

const base: VeEvent = {
  version: 1, jobId: '970001', seq: 1_000_001, state: 'running', at: '2026-12-02T06:00:00.000Z', host: 'node1', owner: USER, name: 'tev1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-970001', source: 'prologue', reason: 'domain running',
};

// A root hook of `host` emits: journal, sign with the host's own key, qsub as pbsve (runuser), as the prologue does.
async function emitFrom(host: string, events: VeEvent[]): Promise<string[]> {
  const configDir = info.hosts[host]?.configDir ?? '';
  const config = loadConfig(configDir);
  const journal = openEventJournal(hostJournalPath(config));
  const before = new Set(journal.unconfirmed().map((u) => u.jobId));
  const logs: string[] = [];
  const result = await openEventSink(config, configDir, openBatch(config), (l) => logs.push(l), host).emit(events);
  if (result.pending > 0) throw new Error(`not sent: ${logs.join('; ')}`);
  return journal.unconfirmed().map((u) => u.jobId).filter((j) => !before.has(j));
}

function monitorFile(name: string): string {
  const file = join(info.hosts['mon1']?.stateDir ?? '', 'monitor', name);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

void t.test('event jobs run on mon1 only, as pbsve, also when pbsve has no login shell', async (t) => {
  t.equal(sandbox.batch, 'torque');
  const started = Date.now();
  const r = await runCommand('usermod', ['-s', '/usr/sbin/nologin', EVENT_ACCOUNT], {});
  t.equal(r.exitCode, 0, r.stderr);
  const jobIds = ['970001', '970002', '970003'];
  const vemonJobs: string[] = [];
  for (const [i, jobId] of jobIds.entries()) {
    vemonJobs.push(...await emitFrom(i % 2 === 0 ? 'node1' : 'node2', [{ ...base, jobId, domain: `pbsve-${jobId}`, host: i % 2 === 0 ? 'node1' : 'node2' }]));
  }
  t.equal(vemonJobs.length, 3, `three vemon jobs: ${vemonJobs.join(', ')}`);
  for (const jobId of jobIds) {
    const ve = await waitFor(`event of ${jobId} in LDAP`, 180_000, async () => ((await reader.getVe(jobId))?.state === 'running' ? true : undefined));
    t.ok(ve, `${jobId}: applied by a vemon job of a pbsve without login shell`);
  }
  for (const id of vemonJobs) {
    const job = await waitFor(`vemon job ${id} finished`, 120_000, async () => {
      const j = await control.batch.getJob(id);
      return j?.state === 'completed' ? j : undefined;
    });
    t.same(job.execHosts, ['mon1'], `${id} ran on mon1`);
    t.equal(job.owner, EVENT_ACCOUNT, `${id} ran as ${EVENT_ACCOUNT}`);
    t.equal(job.exitStatus, 0, `${id} exit 0`);
    t.ok(job.resources.features.includes('vemon'), `${id} asked for vemon (${job.resources.features.join(',')})`);
    // issue 10: the output went to /tmp/pbsve-events.o<N> on the submitting host, a name any user can take first
    const raw = await runCommand(join(info.torque?.binDir ?? '', 'qstat'), ['-f', '-x', id], { env: info.env });
    t.match(raw.stdout, /<Output_Path>[^<]*\/dev\/null<\/Output_Path>/, `${id}: its output is discarded (Output_Path /dev/null)`);
    const old = `/tmp/pbsve-events.o${id.split('.')[0] ?? ''}`;
    t.notOk(existsSync(old) && statSync(old).mtimeMs >= started, `${id}: nothing written to ${old} (a file there is older than this test)`);
  }
  // the hosts learn that their vemon jobs delivered: nothing is sent again
  for (const host of ['node1', 'node2']) {
    const config = loadConfig(info.hosts[host]?.configDir ?? '');
    const sink = openEventSink(config, info.hosts[host]?.configDir ?? '', openBatch(config), () => undefined, host);
    const report = await sink.confirmSent?.();
    t.equal(report?.undelivered, 0, `${host}: no vemon job failed`);
    t.same(openEventJournal(hostJournalPath(config)).unconfirmed(), [], `${host}: every vemon job confirmed`);
  }
  t.equal(monitorFile('ve-monitor-rejected.log'), '', 'nothing rejected');
  const spool = join(info.hosts['mon1']?.stateDir ?? '', 'monitor', 'spool');
  t.same(readdirSync(spool).filter((f) => f.endsWith('.events')), [], 'spool drained');
});

void t.test('pbsve sees other users\' jobs: a forged claim is rejected; without query_other_jobs nothing is applied unchecked', async (t) => {
  const job = await control.submitRaw({ user: USER, name: 'plain', script: '#!/bin/sh\nsleep 300\n', cpus: 1, memoryMiB: 64, minutes: 10, feature: 'lxc', output: join(info.dir, 'work', 'plain.out') });
  t.teardown(async () => { await runCommand(join(info.torque?.binDir ?? '', 'qdel'), [job], { env: info.env }); });
  const running = await waitFor(`job ${job} running`, 120_000, async () => {
    const j = await control.batch.getJob(job);
    return j?.state === 'running' ? j : undefined;
  });
  const onHost = running.execHosts[0] ?? '';
  const other = onHost === 'node1' ? 'node2' : 'node1';
  const seen = await runCommand('runuser', ['-u', EVENT_ACCOUNT, '--', join(info.torque?.binDir ?? '', 'qstat'), '-f', '-x', job], { env: info.env });
  t.equal(seen.exitCode, 0, `pbsve reads ${USER}'s job (query_other_jobs = True, set by ve admin install server)${seen.stderr === '' ? '' : `: ${seen.stderr}`}`);

  // the other host, with its own genuine key, claims the job runs there
  await emitFrom(other, [{ ...base, jobId: job, domain: `pbsve-${job}`, host: other, owner: USER }]);
  await waitFor('the claim rejected', 180_000, () => Promise.resolve(/event-claim-mismatch: job \S+ runs on node\d, the event claims running on node\d/.test(monitorFile('ve-monitor-rejected.log')) ? true : undefined));
  t.equal(await reader.getVe(job), undefined, 'nothing in LDAP');

  // TORQUE's default: pbsve sees only its own jobs. The claim cannot be checked: the event stays spooled.
  // An operator sees every job whatever query_other_jobs says: its entries (the sandbox's: localhost and this
  // machine, see ve admin install server) go too, as on a server where the admin left both out
  const qmgr = join(info.torque?.binDir ?? '', 'qmgr');
  const operators = ['localhost', info.torque?.server ?? ''].map((h) => `${EVENT_ACCOUNT}@${h}`);
  for (const o of operators) t.equal((await runCommand(qmgr, ['-c', `set server operators -= ${o}`], { env: info.env })).exitCode, 0, `operator ${o} removed`);
  t.equal((await runCommand(qmgr, ['-c', 'set server query_other_jobs = False'], { env: info.env })).exitCode, 0);
  const [vemonJob] = await emitFrom(onHost, [{ ...base, jobId: job, domain: `pbsve-${job}`, host: onHost, owner: USER, reason: 'the true claim' }]);
  const ended = await waitFor(`vemon job ${vemonJob ?? ''} finished`, 180_000, async () => {
    const j = await control.batch.getJob(vemonJob ?? '');
    return j?.state === 'completed' ? j : undefined;
  });
  t.equal(ended.exitStatus, 75, 'exit 75: spooled, not applied');
  t.equal(await reader.getVe(job), undefined, 'not applied unchecked');
  t.equal((await runCommand(qmgr, ['-c', 'set server query_other_jobs = True'], { env: info.env })).exitCode, 0);
  for (const o of operators) await runCommand(qmgr, ['-c', `set server operators += ${o}`], { env: info.env });
  // the next apply (here by hand, as pbsve, with no new lines) drains the spool with the claim checked
  // without tap's NODE_OPTIONS: its process-info hook would try to write into this checkout as pbsve
  const drained = await runCommand('runuser', ['-u', EVENT_ACCOUNT, '--', 'env', '-u', 'NODE_OPTIONS', process.execPath, MONITOR, 'apply', '--stdin'], { env: info.vemonEnv, input: '', timeoutMs: 120_000 });
  t.equal(drained.exitCode, 0, drained.stderr);
  t.equal((await reader.getVe(job))?.state, 'running', 'applied once its claim could be checked');
});
