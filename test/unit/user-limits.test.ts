// Per-user limits: the check ve create makes, what `ve admin install server` installs, and how a batch
// system's own refusal reaches the user.
import t from 'tap';
import { checkUserLimits } from '../../src/core/check-user-limits.js';
import { buildSlurmConfLines, buildTorqueServerCommands } from '../../src/admin/install-server.js';
import { classifyTorqueFailure } from '../../src/batch/classify-torque-failure.js';
import { translateSlurmError } from '../../src/batch/translate-slurm-error.js';
import { parseConfig } from '../../src/config/load-config.js';

const one = { vcpus: 1, memoryMiB: 256, nodes: 1 };

void t.test('the check names the limit, its value and what the user holds', (t) => {
  t.doesNotThrow(() => { checkUserLimits([one], one, { vesPerUser: 2 }); });
  t.throws(() => { checkUserLimits([one, one], one, { vesPerUser: 2 }); }, { code: 'user-limit-reached', kind: 'prereq', message: /^limit: at most 2 VEs per user \(config limits\); you hold 2 and this VE needs 1 more; destroy one of your VEs first$/ });
  t.throws(() => { checkUserLimits([{ vcpus: 2, memoryMiB: 256, nodes: 2 }], { ...one, vcpus: 1 }, { cpusPerUser: 4 }); }, { message: /at most 4 vcpus per user .* you hold 4 and this VE needs 1/ }, 'multi-node VEs count every node');
  t.throws(() => { checkUserLimits([one], { ...one, memoryMiB: 900 }, { memoryMiBPerUser: 1024 }); }, { message: /at most 1024 MiB memory per user .* you hold 256 MiB and this VE needs 900 MiB/ });
  t.doesNotThrow(() => { checkUserLimits([one, one, one], one, {}); }, 'no limits configured');
  t.end();
});

void t.test('ve admin install server: TORQUE max_user_queuable/max_user_run; Slurm lines say what needs slurmdbd', (t) => {
  const base = { batch: { kind: 'torque' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } };
  const commands = buildTorqueServerCommands(parseConfig({ ...base, limits: { vesPerUser: 3 } }));
  t.ok(commands.includes('set queue batch max_user_queuable = 3'));
  t.ok(commands.includes('set queue batch max_user_run = 3'));
  t.ok(commands.indexOf('set queue batch max_user_queuable = 3') < commands.indexOf('set queue batch started = True'), 'limits are in place before the queue starts');
  t.notOk(buildTorqueServerCommands(parseConfig(base)).some((c) => c.includes('max_user')), 'no limits configured: none installed');
  const lines = buildSlurmConfLines(parseConfig({ ...base, batch: { kind: 'slurm' }, limits: { vesPerUser: 3, cpusPerUser: 8, memoryMiBPerUser: 4096 } }), { prolog: '/p', epilog: '/e', healthCheck: '/h' });
  t.ok(lines.includes('#   sacctmgr modify qos normal set MaxSubmitJobsPerUser=3 MaxTRESPerUser=cpu=8,mem=4096M'));
  t.ok(lines.some((l) => /without slurmdbd only `ve create` checks them/.test(l)));
  t.end();
});

void t.test('the batch systems\' refusals become user-limit-reached with their words kept', (t) => {
  // TORQUE 6.1: PBSE_MAXUSERQUED's text (src/include/pbs_error_db.h) and the server's detail (svr_jobfunc.c)
  const torque = classifyTorqueFailure('qsub', ['-q', 'batch'], { exitCode: 38, stdout: '', stderr: "qsub: submit error (Maximum number of jobs already in queue for user MSG=total number of current user's jobs exceeds the queue limit: user pbsve-user1@node1, queue batch)\n" });
  t.match(torque, { code: 'user-limit-reached', kind: 'prereq', message: /as many VEs as the VE queue allows per user \(TORQUE max_user_queuable\); destroy one of yours first/ });
  const slurm = translateSlurmError('sbatch', "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)\n", 'batch-rejected', 'prereq');
  t.match(slurm, { code: 'user-limit-reached', kind: 'prereq' });
  t.end();
});
