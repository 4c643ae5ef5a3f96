import t from 'tap';
import { mkdtempSync, rmSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { createClaimChecker, MAX_CLAIM_LOOKUPS } from '../../src/ve-monitor/create-claim-checker.js';
import { checkMonitorAccount } from '../../src/ve-monitor/check-monitor-account.js';
import { createTorqueBatch } from '../../src/batch/torque-batch.js';
import { VeError } from '../../src/core/ve-error.js';
import type { CommandResult, RunCommand } from '../../src/core/run-command.js';
import type { Batch, BatchJob } from '../../src/batch/batch.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

const event: VeEvent = {
  version: 1, jobId: '15.vm', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-15.vm', source: 'prologue', reason: 'domain running',
};

function job(patch: Partial<BatchJob>): BatchJob {
  return {
    jobId: '15.vm', name: 've-web1', owner: 'user1', state: 'running', rawState: 'R', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 256, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

// listJobs returns `listed`; getJob answers from `single` (missing key: the call fails like qstat's Unauthorized Request).
function fakeBatch(listed: BatchJob[] | Error, single: Record<string, BatchJob | undefined>): Batch & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    ...createFakeBatch({}), lookups, 
    listJobs: () => (listed instanceof Error ? Promise.reject(listed) : Promise.resolve(listed)),
    getJob: (id: string) => {
      lookups.push(id);
      return id in single ? Promise.resolve(single[id]) : Promise.reject(new VeError('batch-command-failed', 'exec', 'qstat -f -x 15.vm failed (exit 159): qstat: Unauthorized Request MSG=...'));
    },
  };
}

void t.test('a listing that fails: claims uncheckable, thrown (fail closed)', async (t) => {
  const check = createClaimChecker(fakeBatch(new VeError('batch-unavailable', 'environment', 'cannot connect to server vm'), {}));
  await t.rejects(check([event]), { code: 'event-claims-uncheckable', message: /did not list its jobs: cannot connect.*stay spooled.*query_other_jobs = True/ });
});

void t.test('TORQUE query_other_jobs = False: the listing leaves the job out and qstat refuses it: uncheckable', async (t) => {
  const batch = fakeBatch([job({ jobId: '99.vm', owner: 'pbsve' })], {});
  await t.rejects(createClaimChecker(batch)([event]), { code: 'event-claims-uncheckable', message: /job 15\.vm is not in the job listing and the batch system would not show it: .*Unauthorized Request/ });
  t.same(batch.lookups, ['15.vm']);
});

void t.test('a job the listing leaves out is asked about: a contradiction is caught, a forgotten job passes', async (t) => {
  const batch = fakeBatch([], { '15.vm': { ...job({ execHosts: ['node2'] }), jobId: '15.vm.example.org' }, '16.vm': undefined });
  const check = createClaimChecker(batch);
  const [lie, forgotten, signatureError] = await check([event, { ...event, jobId: '16.vm' }, new VeError('event-forged', 'prereq', 'x')]);
  t.ok(lie instanceof VeError && lie.code === 'event-claim-mismatch', 'job 15 runs on node2, not node1');
  t.same(forgotten, { ...event, jobId: '16.vm' }, 'a job the batch system forgot proves nothing');
  t.ok(signatureError instanceof VeError && signatureError.code === 'event-forged');
  await check([event, event]);
  t.same(batch.lookups, ['15.vm', '16.vm'], 'one lookup per job per run, the listing read once');
});

void t.test('at most MAX_CLAIM_LOOKUPS jobs are asked about per run; the rest stay spooled', async (t) => {
  const single = Object.fromEntries(Array.from({ length: MAX_CLAIM_LOOKUPS + 1 }, (_, i) => [`${100 + i}.vm`, undefined]));
  const events = Object.keys(single).map((jobId) => ({ ...event, jobId }));
  await t.rejects(createClaimChecker(fakeBatch([], single))(events), { code: 'event-claims-uncheckable', message: new RegExp(`more than ${MAX_CLAIM_LOOKUPS}`) });
});

void t.test('with the real TORQUE adapter: "Unauthorized Request" from qstat makes the claim uncheckable', async (t) => {
  const run: RunCommand = (_file, args) => Promise.resolve<CommandResult>(args.length === 2
    ? { exitCode: 0, stdout: '', stderr: '' } // qstat -f -x as pbsve: no jobs of its own, no error
    : { exitCode: 159, stdout: '', stderr: 'qstat: Unauthorized Request  MSG=requestor is not authorized to view job 15.vm\n' });
  await t.rejects(createClaimChecker(createTorqueBatch({ run }))([event]), { code: 'event-claims-uncheckable', message: /Unauthorized Request/ });
});

void t.test('the monitor directory must belong to the account ve-monitor runs as, whoever that is', (t) => {
  const dir = mkdtempSync('/tmp/pbsve-monacct-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const me = process.geteuid?.() ?? 0;
  t.equal(checkMonitorAccount(dir, me), join(dir, 'monitor'), 'created and accepted');
  t.throws(() => checkMonitorAccount(dir, me + 4242), { code: 'monitor-account-mismatch', kind: 'environment', message: /belongs to uid \d+, but ve-monitor runs as uid \d+: run ve-monitor as the account vemon jobs run as \(TORQUE: batch.eventSubmitUser, default pbsve; Slurm: root\)/ });
  mkdirSync(join(dir, 'ro'));
  chmodSync(join(dir, 'ro'), 0o500);
  if (me !== 0) t.throws(() => checkMonitorAccount(join(dir, 'ro'), me), { code: 'monitor-dir-unwritable' });
  t.end();
});
