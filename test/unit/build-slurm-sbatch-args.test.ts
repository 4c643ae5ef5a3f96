import t from 'tap';
import { VeError } from '../../src/core/ve-error.js';
import type { SubmitRequest } from '../../src/batch/batch.js';
import { buildSlurmExport, buildSlurmSbatchArgs, formatSlurmDuration } from '../../src/batch/build-slurm-sbatch-args.js';

const base: SubmitRequest = {
  name: 've-42',
  queue: 'batch',
  cpus: 2,
  memoryMiB: 512,
  walltimeSeconds: 90_061,
  features: ['kvm', 'lxc'],
  nodeCount: 1,
  variables: { VE_ID: 've-42', VE_URI: 'qemu:///system' },
  script: '#!/bin/sh\necho hi\n',
  comment: '{"ve":"x, y=z"}',
  outputPath: '/tmp/out.%j',
  workdir: '/tmp',
};

// The pattern of a prereq VeError about the given field, for t.throws.
function isFieldError(field: string): { name: string; kind: string; field: string } {
  return { name: 'VeError', kind: 'prereq', field };
}

void t.test('formatSlurmDuration spells D-HH:MM:SS', (t) => {
  t.equal(formatSlurmDuration(59), '0-00:00:59');
  t.equal(formatSlurmDuration(3600), '0-01:00:00');
  t.equal(formatSlurmDuration(90_061), '1-01:01:01');
  t.end();
});

void t.test('buildSlurmSbatchArgs maps every field of the request', (t) => {
  t.same(buildSlurmSbatchArgs(base), [
    '--parsable',
    '--job-name=ve-42',
    '--partition=batch',
    '--nodes=1',
    '--ntasks=1',
    '--cpus-per-task=2',
    '--mem=512M',
    '--time=1-01:01:01',
    '--constraint=kvm&lxc',
    '--export=NONE,VE_ID=ve-42,VE_URI=qemu:///system',
    '--comment={"ve":"x, y=z"}',
    '--output=/tmp/out.%j',
    '--chdir=/tmp',
  ]);
  t.end();
});

void t.test('buildSlurmSbatchArgs leaves out what is not asked and gives multi-node jobs a task per node', (t) => {
  const bare: SubmitRequest = { name: 've-42', queue: 'batch', cpus: 2, memoryMiB: undefined, walltimeSeconds: undefined, features: [], nodeCount: 3, variables: {}, script: '#!/bin/sh\n' };
  const args = buildSlurmSbatchArgs(bare);
  t.same(args, ['--parsable', '--job-name=ve-42', '--partition=batch', '--nodes=3', '--ntasks=3', '--ntasks-per-node=1', '--cpus-per-task=2', '--export=NONE']);
  t.end();
});

void t.test('buildSlurmSbatchArgs refuses variable values Slurm would split, naming the variable', (t) => {
  for (const value of ['a,b', 'a"b', "a'b", 'a=b', 'a b', 'a\nb']) {
    t.throws(() => buildSlurmSbatchArgs({ ...base, variables: { VE_X: value } }), isFieldError('variables.VE_X'), JSON.stringify(value));
  }
  t.throws(() => buildSlurmExport({ 'BAD-NAME': 'x' }), isFieldError('variables.BAD-NAME'));
  const err = t.throws(() => buildSlurmExport({ VE_X: 'a,b' })) as VeError;
  t.match(err.message, /variables\.VE_X/);
  t.end();
});

void t.test('buildSlurmSbatchArgs refuses hostile or impossible fields', (t) => {
  t.throws(() => buildSlurmSbatchArgs({ ...base, queue: 'batch,vemon' }), isFieldError('queue'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, queue: '--uid=0' }), isFieldError('queue'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, features: ['kvm|lxc'] }), isFieldError('features'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, name: 'a\nb' }), isFieldError('name'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, cpus: -1 }), isFieldError('cpus'));
  t.ok(buildSlurmSbatchArgs({ ...base, cpus: 0 }).includes('--cpus-per-task=1'), 'an operation (0 cpus of its own) takes one cpu of the op partition');
  t.throws(() => buildSlurmSbatchArgs({ ...base, cpus: 1.5 }), isFieldError('cpus'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, nodeCount: -1 }), isFieldError('nodeCount'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, memoryMiB: 0 }), isFieldError('memoryMiB'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, walltimeSeconds: Number.NaN }), isFieldError('walltimeSeconds'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, outputPath: 'rel/out' }), isFieldError('outputPath'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, workdir: '/tmp\n' }), isFieldError('workdir'));
  t.throws(() => buildSlurmSbatchArgs({ ...base, script: 'echo no shebang' }), isFieldError('script'));
  t.end();
});

void t.test('buildSlurmSbatchArgs keeps a hostile name or comment in one argument', (t) => {
  const args = buildSlurmSbatchArgs({ ...base, name: 'x --uid=0 "', comment: '--partition=vemon, "a"' });
  t.ok(args.includes('--job-name=x --uid=0 "'));
  t.ok(args.includes('--comment=--partition=vemon, "a"'));
  t.ok(args.includes('--partition=batch'));
  t.end();
});

void t.test('a job without a login environment exports ALL of sbatch\'s own minimal environment, so slurmd loads none', (t) => {
  const args = buildSlurmSbatchArgs({ ...base, variables: {}, loginEnvironment: false });
  t.ok(args.includes('--export=ALL'));
  t.notOk(args.some((a) => a.startsWith('--export=NONE')), 'NONE (or any list) makes sbatch set SLURM_GET_USER_ENV=1');
  t.throws(() => buildSlurmSbatchArgs({ ...base, variables: { A: 'b' }, loginEnvironment: false }), isFieldError('variables'), 'variables would travel in sbatch\'s environment: refused');
  t.ok(buildSlurmSbatchArgs({ ...base, variables: {}, loginEnvironment: true }).includes('--export=NONE'), 'the default stays NONE');
  t.end();
});
