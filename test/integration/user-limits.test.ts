// Per-user limits enforced by Slurm itself (issue 11): a sandbox with accounting (MariaDB + slurmdbd), pbs-ve's
// QOS on the VE partition set by `ve admin install server` (dry run, apply, re-run), a user submitting around
// `ve` held to it by Slurm, and `ve create` / `ve show` saying which limit when Slurm refuses or holds a VE.
// TORQUE: `ve admin install server` sets max_user_queuable, and `ve create` translates qsub's refusal.
// backends: slurm torque
import t from 'tap';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs } from '../../src/sandbox/run-demo.js';
import { waitFor } from '../harness/wait-for.js';
import { TEST_BATCH, useSandbox } from '../harness/use-sandbox.js';

const USER1 = 'pbsve-user1';
const USER2 = 'pbsve-user2';
const VE = join(process.cwd(), 'dist/src/qsub-wrappers/main.js');

let info: SandboxInfo;
let adminDir: string;
const figures: string[] = [];
let startedAt = 0;

useSandbox(t, {
  prefix: '/tmp/pbsve-limits-', accounting: true, users: [USER1, USER2], accountingUsers: [USER2],
  ready: (started) => {
    info = started;
    figures.push(`sandbox up (${TEST_BATCH === 'slurm' ? 'Slurm with accounting' : 'TORQUE'}): ${Date.now() - startedAt} ms`);
    // the admin's config holds the limits the QOS gets; the users' config a higher vesPerUser, so pbs-ve's own
    // pre-check lets the VE through and what refuses it is Slurm
    adminDir = join(info.dir, 'etc-admin');
    mkdirSync(adminDir, { recursive: true });
    const config = JSON.parse(readFileSync(join(info.configDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(adminDir, 'config.json'), JSON.stringify({ ...config, limits: TEST_BATCH === 'slurm' ? { vesPerUser: 2, cpusPerUser: 1 } : { vesPerUser: 1 } }), { mode: 0o644 });
    writeFileSync(join(info.configDir, 'config.json'), JSON.stringify({ ...config, limits: { vesPerUser: 10 } }), { mode: 0o644 });
  },
  beforeStop: () => { t.comment(figures.join('\n')); },
});
startedAt = Date.now();

const SLURM_ONLY = { skip: TEST_BATCH === 'slurm' ? false : 'Slurm accounting (QOS) only' };

async function admin(args: readonly string[], configDir = adminDir): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand(process.execPath, [VE, 'admin', ...args], { env: { ...info.env, PBS_VE_CONFIG_DIR: configDir }, timeoutMs: 120_000 });
}

async function showQos(): Promise<string> {
  const r = await runCommand('sacctmgr', ['-n', '-P', 'show', 'qos', 'pbsve', 'format=name,maxsubmitpu,maxtrespu'], { env: { SLURM_CONF: info.slurmConf }, timeoutMs: 30_000 });
  return r.stdout.trim();
}

async function sbatchAs(user: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand('runuser', ['-u', user, '--', 'sbatch', '--parsable', '-p', 'batch', '-c', '1', '--mem=32M', '-t', '5', '-o', '/dev/null', '--wrap', 'sleep 300'], { env: { SLURM_CONF: info.slurmConf }, timeoutMs: 30_000 });
}

async function reasonOf(jobId: string): Promise<string> {
  const r = await runCommand('squeue', ['-h', '-j', jobId, '-o', '%T %r'], { env: { SLURM_CONF: info.slurmConf }, timeoutMs: 30_000 });
  return r.stdout.trim();
}

void t.test('ve admin install server: --dry-run prints the sacctmgr commands, then applies them, and again', SLURM_ONLY, async (t) => {
  t.equal(await showQos(), 'pbsve||', 'the sandbox made the QOS without limits (its config has none)');
  const dry = await admin(['install', 'server', '--dry-run']);
  t.equal(dry.exitCode, 0, dry.stderr);
  t.match(dry.stdout, 'sacctmgr -i modify qos pbsve set MaxSubmitJobsPerUser=2 MaxTRESPerUser=cpu=1,mem=-1');
  t.match(dry.stdout, /PartitionName=batch .*QOS=pbsve/);
  t.match(dry.stdout, '(dry run: sacctmgr was not run)');
  t.equal(await showQos(), 'pbsve||', 'a dry run changes nothing');
  for (const run of ['first', 'second']) {
    const t0 = Date.now();
    const r = await admin(['install', 'server']);
    figures.push(`ve admin install server (${run} run): ${Date.now() - t0} ms`);
    t.equal(r.exitCode, 0, `${run} run: ${r.stderr}`);
    t.match(r.stdout, /exists +sacctmgr -i add qos pbsve/);
    t.match(r.stdout, /(applied|exists) +sacctmgr -i modify qos pbsve set MaxSubmitJobsPerUser=2 MaxTRESPerUser=cpu=1,mem=-1/);
    t.equal(await showQos(), 'pbsve|2|cpu=1', `${run} run: the QOS holds the limits`);
  }
});

void t.test('Slurm holds a user submitting around ve to the QOS: the third job refused, the second pending', SLURM_ONLY, async (t) => {
  const first = await sbatchAs(USER2);
  t.equal(first.exitCode, 0, first.stderr);
  const second = await sbatchAs(USER2);
  t.equal(second.exitCode, 0, second.stderr);
  const third = await sbatchAs(USER2);
  t.not(third.exitCode, 0, 'a third job of the user is refused at submit');
  t.match(third.stderr, /QOSMaxSubmitJobPerUserLimit/);
  t.comment(`Slurm's refusal: ${third.stderr.trim().replace(/\n/g, ' | ')}`);
  const firstId = first.stdout.trim().split(';')[0] ?? '';
  const secondId = second.stdout.trim().split(';')[0] ?? '';
  await waitFor('the first raw job running', 60_000, async () => ((await reasonOf(firstId)).startsWith('RUNNING') ? true : undefined));
  const pending = await waitFor('the second raw job held by the cpu limit', 60_000, async () => {
    const r = await reasonOf(secondId);
    return r.startsWith('PENDING') && /QOSMaxCpuPerUserLimit/.test(r) ? r : undefined;
  });
  t.match(pending, 'PENDING QOSMaxCpuPerUserLimit');
  await runCommand('scancel', ['-u', USER2], { env: { SLURM_CONF: info.slurmConf }, timeoutMs: 30_000 });
});

void t.test('ve create and ve show say which limit when Slurm refuses or holds a VE', SLURM_ONLY, async (t) => {
  const a1 = await runVeAs(info, USER1, ['create', 'a1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--wait', '4m'], 300_000);
  t.equal(a1.exitCode, 0, a1.stderr);
  const a2 = await runVeAs(info, USER1, ['create', 'a2', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(a2.exitCode, 0, `pbs-ve's own check (vesPerUser 10) and Slurm accept the second VE: ${a2.stderr}`);
  const shown = await waitFor('ve show a2 saying why it waits', 60_000, async () => {
    const r = await runVeAs(info, USER1, ['show', 'a2']);
    return /waiting: .*QOSMaxCpuPerUserLimit/.test(r.stdout) ? r.stdout : undefined;
  });
  t.match(shown, /waiting: +your VEs reached the most vcpus one user's VEs may hold together \(Slurm QOS limit QOSMaxCpuPerUserLimit\); it starts when one of your VEs ends/);
  const a3 = await runVeAs(info, USER1, ['create', 'a3', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(a3.exitCode, 2, 'a refusal: exit 2');
  t.match(a3.stderr, /user-limit-reached: limit: Slurm refused the VE: you reached the most VE jobs \(pending and running\) one user may have in the VE queue \(Slurm QOS limit QOSMaxSubmitJobPerUserLimit\); destroy one of your VEs first \(Slurm: /);
  // the held VE starts when the first one ends
  const destroyed = await runVeAs(info, USER1, ['destroy', 'a1', '--wait', '2m'], 180_000);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
  await waitFor('a2 running after a1 ended', 180_000, async () => {
    const r = await runVeAs(info, USER1, ['show', 'a2', '--json']);
    return /"state":\s*"running"/.test(r.stdout) ? true : undefined;
  }, 1000);
  t.pass('a2 runs once a1 is gone');
  const last = await runVeAs(info, USER1, ['destroy', 'a2', '--wait', '2m'], 180_000);
  t.equal(last.exitCode, 0, last.stderr);
});

void t.test('a cluster without slurmdbd: install server says so and what to do, and still prints the slurm.conf lines', SLURM_ONLY, async (t) => {
  // a submit host whose slurm.conf has no accounting: sacctmgr cannot reach any slurmdbd
  const plain = join(info.dir, 'etc-noacct');
  mkdirSync(plain, { recursive: true });
  const slurmConf = join(plain, 'slurm.conf');
  writeFileSync(slurmConf, readFileSync(info.slurmConf, 'utf8').replace(/^AccountingStorage(Host|Port|Pass|Enforce)=.*$/gm, '').replace(/^AccountingStorageType=.*$/m, 'AccountingStorageType=accounting_storage/none'));
  cpSync(join(adminDir, 'config.json'), join(plain, 'config.json'));
  const config = JSON.parse(readFileSync(join(plain, 'config.json'), 'utf8')) as { batch: Record<string, unknown> };
  writeFileSync(join(plain, 'config.json'), JSON.stringify({ ...config, batch: { ...config.batch, slurmConf } }), { mode: 0o644 });
  const r = await admin(['install', 'server'], plain);
  t.equal(r.exitCode, 0, `the rest of the install does not fail: ${r.stderr}`);
  t.match(r.stdout, /NOTE: Slurm accounting \(slurmdbd\) is not available \(.+\): per-user limits are checked by `ve create` only/);
  t.match(r.stdout, /AccountingStorageType=accounting_storage\/slurmdbd and AccountingStorageEnforce=associations,limits,qos/);
  t.match(r.stdout, /PartitionName=batch /);
  t.comment(r.stdout.split('\n').find((l) => l.startsWith('NOTE')) ?? '');
});

void t.test('TORQUE: install server sets max_user_queuable, ve create translates qsub\'s refusal', { skip: TEST_BATCH === 'torque' ? false : 'TORQUE only' }, async (t) => {
  const install = await admin(['install', 'server']);
  t.equal(install.exitCode, 0, install.stderr);
  t.match(install.stdout, /max_user_queuable = 1/);
  const qmgr = join(info.torque?.binDir ?? '/opt/torque/bin', 'qmgr');
  t.teardown(async () => {
    for (const a of ['max_user_queuable', 'max_user_run']) await runCommand(qmgr, ['-c', `unset queue batch ${a}`], { env: info.env });
  });
  const a1 = await runVeAs(info, USER1, ['create', 'a1', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(a1.exitCode, 0, a1.stderr);
  const a2 = await runVeAs(info, USER1, ['create', 'a2', '--type', 'lxc', '--image', 'tiny', '--memory', '64']);
  t.equal(a2.exitCode, 2, 'pbs-ve\'s own check (vesPerUser 10) lets it through, TORQUE refuses it: exit 2');
  t.match(a2.stderr, /user-limit-reached: .*as many VEs as the VE queue allows per user \(TORQUE max_user_queuable\); destroy one of yours first/);
  t.comment(a2.stderr.trim());
  const destroyed = await runVeAs(info, USER1, ['destroy', 'a1', '--wait', '2m'], 180_000);
  t.equal(destroyed.exitCode, 0, destroyed.stderr);
});
