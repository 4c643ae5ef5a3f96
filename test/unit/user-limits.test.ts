// Per-user limits: the check ve create makes, what `ve admin install server` installs, and how a batch
// system's own refusal reaches the user.
import t from 'tap';
import { checkUserLimits } from '../../src/core/check-user-limits.js';
import { buildSlurmConfLines, buildTorqueServerCommands } from '../../src/admin/install-server.js';
import { classifyTorqueFailure } from '../../src/batch/classify-torque-failure.js';
import { translateSlurmError } from '../../src/batch/translate-slurm-error.js';
import { parseConfig } from '../../src/config/load-config.js';
import { applySlurmQos, buildSlurmQosLimitArgs, formatSlurmQosSteps } from '../../src/admin/install-slurm-qos.js';
import { explainSlurmWaitReason } from '../../src/batch/explain-wait-reason.js';
import type { CommandResult, RunCommand } from '../../src/core/run-command.js';

const one = { vcpus: 1, memoryMiB: 256, nodes: 1 };

void t.test('the check names the limit, its value and what the user holds', (t) => {
  t.doesNotThrow(() => { checkUserLimits([one], one, { vesPerUser: 2 }); });
  t.throws(() => { checkUserLimits([one, one], one, { vesPerUser: 2 }); }, { code: 'user-limit-reached', kind: 'prereq', message: /^limit: at most 2 VEs per user \(config limits\); you hold 2 and this VE needs 1 more; destroy one of your VEs first$/ });
  t.throws(() => { checkUserLimits([{ vcpus: 2, memoryMiB: 256, nodes: 2 }], { ...one, vcpus: 1 }, { cpusPerUser: 4 }); }, { message: /at most 4 vcpus per user .* you hold 4 and this VE needs 1/ }, 'multi-node VEs count every node');
  t.throws(() => { checkUserLimits([one], { ...one, memoryMiB: 900 }, { memoryMiBPerUser: 1024 }); }, { message: /at most 1024 MiB memory per user .* you hold 256 MiB and this VE needs 900 MiB/ });
  t.doesNotThrow(() => { checkUserLimits([one, one, one], one, {}); }, 'no limits configured');
  t.end();
});

void t.test('ve admin install server: TORQUE max_user_queuable/max_user_run; Slurm: QOS= on the VE partition only, and what needs slurmdbd', (t) => {
  const base = { batch: { kind: 'torque' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } };
  const commands = buildTorqueServerCommands(parseConfig({ ...base, limits: { vesPerUser: 3 } }));
  t.ok(commands.includes('set queue batch max_user_queuable = 3'));
  t.ok(commands.includes('set queue batch max_user_run = 3'));
  t.ok(commands.indexOf('set queue batch max_user_queuable = 3') < commands.indexOf('set queue batch started = True'), 'limits are in place before the queue starts');
  t.notOk(buildTorqueServerCommands(parseConfig(base)).some((c) => c.includes('max_user')), 'no limits configured: none installed');
  const lines = buildSlurmConfLines(parseConfig({ ...base, batch: { kind: 'slurm' }, limits: { vesPerUser: 3, cpusPerUser: 8, memoryMiBPerUser: 4096 } }), { prolog: '/p', epilog: '/e', healthCheck: '/h' });
  t.ok(lines.some((l) => /^PartitionName=batch .* QOS=pbsve State=UP$/.test(l)), 'the VE partition gets pbs-ve\'s QOS');
  t.notOk(lines.some((l) => /^PartitionName=vemon .*QOS=/.test(l)), 'the vemon partition does not');
  t.ok(lines.some((l) => /without slurmdbd leave QOS= out: only `ve create` checks the limits/.test(l)));
  const withOp = buildSlurmConfLines(parseConfig({ ...base, batch: { kind: 'slurm', opQueue: 'veop' }, limits: { vesPerUser: 3 } }), { prolog: '/p', epilog: '/e', healthCheck: '/h' }, 'veqos');
  t.ok(withOp.some((l) => /^PartitionName=batch .*QOS=veqos/.test(l)));
  t.notOk(withOp.some((l) => /^PartitionName=veop .*QOS=/.test(l)), 'op jobs are not counted against the VE limits');
  t.notOk(buildSlurmConfLines(parseConfig({ ...base, batch: { kind: 'slurm' } }), { prolog: '/p', epilog: '/e', healthCheck: '/h' }).some((l) => l.includes('QOS=')), 'no limits: no QOS');
  t.end();
});

void t.test('sacctmgr arguments: exactly the configured limits, the others cleared; hostile QOS names refused', (t) => {
  t.same(buildSlurmQosLimitArgs('pbsve', { vesPerUser: 3, cpusPerUser: 8, memoryMiBPerUser: 4096 }), ['-i', 'modify', 'qos', 'pbsve', 'set', 'MaxSubmitJobsPerUser=3', 'MaxTRESPerUser=cpu=8,mem=4096M']);
  t.same(buildSlurmQosLimitArgs('pbsve', { cpusPerUser: 2 }), ['-i', 'modify', 'qos', 'pbsve', 'set', 'MaxSubmitJobsPerUser=-1', 'MaxTRESPerUser=cpu=2,mem=-1']);
  t.same(buildSlurmQosLimitArgs('pbsve', undefined), ['-i', 'modify', 'qos', 'pbsve', 'set', 'MaxSubmitJobsPerUser=-1', 'MaxTRESPerUser=cpu=-1,mem=-1'], 'limits removed from the config: the QOS holds none');
  for (const bad of ['normal where name=x', 'a;b', '-i', '', 'x'.repeat(65), 'pbs ve']) {
    t.throws(() => buildSlurmQosLimitArgs(bad, undefined), { code: 'invalid-field', field: 'qos', message: /^qos: must be a plain name/ }, JSON.stringify(bad));
  }
  t.end();
});

// a fake sacctmgr/scontrol: answers by the command's first words, records every call
function fakeSlurm(answers: Record<string, Partial<CommandResult>>): { run: RunCommand; calls: string[] } {
  const calls: string[] = [];
  const run: RunCommand = (file, args) => {
    const line = [file, ...args].join(' ');
    calls.push(line);
    const key = Object.keys(answers).find((k) => line.replace(/^\S*\//, '').startsWith(k));
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', ...(key === undefined ? {} : answers[key]) });
  };
  return { run, calls };
}

const ENFORCED = 'AccountingStorageType   = accounting_storage/slurmdbd\nAccountingStorageEnforce = associations,limits,qos\n';

void t.test('applySlurmQos: dry run asks nothing; a missing QOS is added, an existing one only modified', async (t) => {
  const dry = fakeSlurm({});
  const planned = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: true, runCommand: dry.run });
  t.same(dry.calls, [], 'no command runs in a dry run');
  t.same(formatSlurmQosSteps(planned), ['sacctmgr -i add qos pbsve   # only when the QOS does not exist yet', 'sacctmgr -i modify qos pbsve set MaxSubmitJobsPerUser=2 MaxTRESPerUser=cpu=-1,mem=-1']);
  const missing = fakeSlurm({ 'scontrol show config': { stdout: ENFORCED }, 'sacctmgr -n -P show qos': { stdout: '' } });
  const added = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: missing.run, binDir: '/opt/slurm/bin' });
  t.same(missing.calls, ['/opt/slurm/bin/scontrol show config', '/opt/slurm/bin/sacctmgr -n -P show qos pbsve format=name', '/opt/slurm/bin/sacctmgr -i add qos pbsve', '/opt/slurm/bin/sacctmgr -i modify qos pbsve set MaxSubmitJobsPerUser=2 MaxTRESPerUser=cpu=-1,mem=-1']);
  t.same(added.map((s) => s.outcome), ['applied', 'applied']);
  const present = fakeSlurm({ 'scontrol show config': { stdout: ENFORCED }, 'sacctmgr -n -P show qos': { stdout: 'pbsve\n' }, 'sacctmgr -i modify': { exitCode: 1, stdout: ' Nothing modified\n' } });
  const again = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: present.run });
  t.same(again.map((s) => s.outcome), ['exists', 'exists'], 'a re-run with nothing to change is fine');
  t.notOk(present.calls.some((c) => c.includes('add qos')), 'an existing QOS is not added again');
  const broken = fakeSlurm({ 'scontrol show config': { stdout: ENFORCED }, 'sacctmgr -n -P show qos': { stdout: 'pbsve\n' }, 'sacctmgr -i modify': { exitCode: 1, stderr: ' Unknown option: MaxTRESPerUser\n' } });
  await t.rejects(applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: broken.run }), { code: 'sacctmgr-failed', message: /Unknown option/ });
});

void t.test('applySlurmQos: no slurmdbd is said, with what to do, and never thrown', async (t) => {
  const none = fakeSlurm({ 'scontrol show config': { stdout: 'AccountingStorageType   = accounting_storage/none\n' } });
  const steps = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: none.run });
  t.same(none.calls, ['scontrol show config'], 'sacctmgr is not even tried');
  t.equal(steps[0]?.outcome, 'no-slurmdbd');
  t.match(formatSlurmQosSteps(steps)[0], /^NOTE: Slurm accounting \(slurmdbd\) is not available \(AccountingStorageType is accounting_storage\/none\): per-user limits are checked by `ve create` only.*AccountingStorageEnforce=associations,limits,qos/);
  const down = fakeSlurm({ 'scontrol show config': { exitCode: 1, stderr: 'slurm_load_ctl_conf error: Unable to contact slurm controller' }, 'sacctmgr': { exitCode: 1, stderr: 'sacctmgr: error: Sending PersistInit msg: Connection refused\n' } });
  const viaSacctmgr = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: down.run });
  t.same(viaSacctmgr.map((s) => s.outcome), ['no-slurmdbd']);
  t.match(viaSacctmgr[0]?.detail, /sacctmgr: sacctmgr: error: Sending PersistInit msg: Connection refused/);
  const loose = fakeSlurm({ 'scontrol show config': { stdout: 'AccountingStorageType = accounting_storage/slurmdbd\nAccountingStorageEnforce = associations\n' }, 'sacctmgr -n -P show qos': { stdout: 'pbsve\n' } });
  const warned = await applySlurmQos({ qos: 'pbsve', limits: { vesPerUser: 2 }, dryRun: false, runCommand: loose.run });
  t.match(formatSlurmQosSteps(warned)[0], /^WARNING: AccountingStorageEnforce is "associations": Slurm stores the QOS limits but enforces them only with limits and qos/);
  t.equal(warned.length, 3, 'and still sets the QOS');
});

void t.test('the batch systems\' refusals become user-limit-reached with their words kept', (t) => {
  // TORQUE 6.1: PBSE_MAXUSERQUED's text (src/include/pbs_error_db.h) and the server's detail (svr_jobfunc.c)
  const torque = classifyTorqueFailure('qsub', ['-q', 'batch'], { exitCode: 38, stdout: '', stderr: "qsub: submit error (Maximum number of jobs already in queue for user MSG=total number of current user's jobs exceeds the queue limit: user pbsve-user1@node1, queue batch)\n" });
  t.match(torque, { code: 'user-limit-reached', kind: 'prereq', message: /as many VEs as the VE queue allows per user \(TORQUE max_user_queuable\); destroy one of yours first/ });
  const slurm = translateSlurmError('sbatch', "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)\n", 'batch-rejected', 'prereq');
  t.match(slurm, { code: 'user-limit-reached', kind: 'prereq', field: 'limit', message: /^limit: Slurm refused the VE: you reached the most VE jobs \(pending and running\) one user may have in the VE queue \(Slurm QOS limit QOSMaxSubmitJobPerUserLimit\); destroy one of your VEs first \(Slurm: QOSMaxSubmitJobPerUserLimit; Batch job submission failed/ });
  const assoc = translateSlurmError('sbatch', 'sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user\'s size and/or time limits)\n', 'batch-rejected', 'prereq');
  t.match(assoc.message, /\(Slurm association limit AssocMaxSubmitJobLimit\)/);
  const bare = translateSlurmError('sbatch', 'sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user\'s size and/or time limits)\n', 'batch-rejected', 'prereq');
  t.match(bare, { code: 'user-limit-reached', message: /a per-user limit of the VE queue \(Slurm QOS\/association limit\)/ }, 'without the code line: still the limit');
  t.match(translateSlurmError('sbatch', 'sbatch: error: Invalid account or account/partition combination specified\n', 'batch-rejected', 'prereq'), { code: 'batch-rejected' }, 'other refusals keep their code');
  t.end();
});

void t.test('a VE pending on a QOS/association limit: which one, in words', (t) => {
  t.equal(explainSlurmWaitReason('QOSMaxCpuPerUserLimit'), 'your VEs reached the most vcpus one user\'s VEs may hold together (Slurm QOS limit QOSMaxCpuPerUserLimit); it starts when one of your VEs ends');
  t.match(explainSlurmWaitReason('QOSMaxMemoryPerUser'), /^your VEs reached the most memory one user's VEs may hold together \(Slurm QOS limit QOSMaxMemoryPerUser\)/);
  t.match(explainSlurmWaitReason('QOSMaxJobsPerUserLimit'), /the most VEs one user may run at once/);
  t.match(explainSlurmWaitReason('AssocMaxJobsLimit'), /the most VEs one user may run at once \(Slurm association limit AssocMaxJobsLimit\)/);
  t.match(explainSlurmWaitReason('AssocGrpCpuLimit'), /most vcpus/);
  t.match(explainSlurmWaitReason('QOSMaxNodePerUserLimit'), /most hosts/);
  t.match(explainSlurmWaitReason('QOSSomethingNewLimit'), /a per-user or queue limit \(Slurm QOS limit QOSSomethingNewLimit\)/);
  t.match(explainSlurmWaitReason('Resources'), /enough free cpus/, 'other reasons unchanged');
  t.end();
});
