import { readFileSync } from 'node:fs';
import t from 'tap';
import { readSlurmEpilogExitStatus, readSlurmPelogContext, sumSlurmCpusPerNode } from '../../src/batch/read-slurm-pelog-context.js';

// A captured `env | sort` of a real Slurm 22.05 Prolog/Epilog as an environment object.
function readEnv(name: string): Record<string, string> {
  const text = readFileSync(new URL(`../../../test/fixtures/slurm/${name}.env`, import.meta.url), 'utf8');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

void t.test('prolog of a two-node job on its first node', (t) => {
  const ctx = readSlurmPelogContext(readEnv('prolog-job4-node1'), 'prolog');
  t.same(ctx, {
    jobId: '4',
    user: 'pbsve-user1',
    group: undefined,
    jobName: undefined,
    queue: 'batch',
    host: 'node1',
    scriptPath: undefined,
    exitStatus: undefined,
    resources: { cpus: 2, nodeCount: 2, features: ['kvm', 'lxc'] },
    sister: false,
    jobHosts: ['node1', 'node2'],
  });
  t.end();
});

void t.test('the same job on its second node is a sister', (t) => {
  const ctx = readSlurmPelogContext(readEnv('prolog-job4-node2'), 'prolog');
  t.equal(ctx.host, 'node2');
  t.equal(ctx.sister, true);
  t.end();
});

void t.test('epilogs carry the exit status', (t) => {
  t.equal(readSlurmPelogContext(readEnv('epilog-job4-node1'), 'epilog').exitStatus, 3);
  t.equal(readSlurmPelogContext(readEnv('epilog-job2-node1'), 'epilog').exitStatus, 3);
  const cancelled = readSlurmPelogContext(readEnv('epilog-job3-mon1'), 'epilog');
  t.equal(cancelled.exitStatus, 0, 'Slurm tells the Epilog 0:0 for a cancelled job');
  t.equal(cancelled.queue, 'vemon');
  t.equal(cancelled.user, 'root');
  t.same(cancelled.resources, { cpus: 1, nodeCount: 1 });
  t.end();
});

void t.test('a missing or forged job id, or the wrong hook, is a prereq error', (t) => {
  const env = readEnv('prolog-job3-mon1');
  const noId = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'SLURM_JOB_ID'));
  t.throws(() => readSlurmPelogContext(noId, 'prolog'), { name: 'VeError', kind: 'prereq', field: 'SLURM_JOB_ID' });
  t.throws(() => readSlurmPelogContext({ ...env, SLURM_JOB_ID: '3;x' }, 'prolog'), { code: 'pelog-context-missing' });
  t.throws(() => readSlurmPelogContext(env, 'epilog'), { code: 'pelog-context-mismatch' });
  const noHost = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'SLURMD_NODENAME'));
  t.throws(() => readSlurmPelogContext(noHost, 'prolog'), { code: 'pelog-context-missing', field: 'SLURMD_NODENAME' });
  t.end();
});

void t.test('sumSlurmCpusPerNode and readSlurmEpilogExitStatus', (t) => {
  t.equal(sumSlurmCpusPerNode('2'), 2);
  t.equal(sumSlurmCpusPerNode('2(x3),1'), 7);
  t.equal(sumSlurmCpusPerNode('x'), undefined);
  t.equal(readSlurmEpilogExitStatus({ SLURM_JOB_EXIT_CODE2: '0:9' }), 137);
  t.equal(readSlurmEpilogExitStatus({ SLURM_JOB_EXIT_CODE: '768' }), 3);
  t.equal(readSlurmEpilogExitStatus({ SLURM_JOB_EXIT_CODE: '15' }), 143);
  t.equal(readSlurmEpilogExitStatus({}), undefined);
  t.end();
});
