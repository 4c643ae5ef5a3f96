import t from 'tap';
import { readFileSync } from 'node:fs';
import { readTorquePelogContext } from '../../src/batch/read-torque-pelog-context.js';
import { VeError } from '../../src/core/ve-error.js';

const FIXTURES = new URL('../../../test/fixtures/torque/pelog/', import.meta.url);

interface PelogFixture {
  readonly argv: string[];
  readonly env: Record<string, string>;
}

// The fixture shows argv[0]=<path> ... and the env lines the real mom gave the script.
function readPelogFixture(name: string): PelogFixture {
  const text = readFileSync(new URL(name, FIXTURES), 'utf8');
  const argc = Number(/^argc=([0-9]+)$/m.exec(text)?.[1]);
  const argv: string[] = [];
  for (const match of text.matchAll(/^argv\[([0-9]+)\]=<(.*)>$/gm)) {
    if (match[1] !== '0') argv[Number(match[1]) - 1] = match[2] ?? '';
  }
  if (argv.length !== argc) throw new Error(`${name}: argc ${argc} but ${argv.length} arguments`);
  const envBlock = text.split('-- env\n')[1]?.split('-- fds')[0] ?? '';
  const env = Object.fromEntries(envBlock.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  return { argv, env };
}

void t.test('prologue.15.vm.txt', (t) => {
  const { argv, env } = readPelogFixture('prologue.15.vm.txt');
  t.strictSame(readTorquePelogContext(argv, env, 'prologue', 'vm'), {
    jobId: '15.vm',
    user: 'user1',
    group: 'user1',
    jobName: 'jobA',
    queue: 'batch',
    host: 'vm',
    scriptPath: '/var/spool/torque/mom_priv/jobs/15.vm15003.SC',
    exitStatus: undefined,
    resources: { cpus: 2, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: 120, features: ['general'] },
    sister: false,
  });
  t.end();
});

void t.test('prologue.16.vm.txt', (t) => {
  const { argv, env } = readPelogFixture('prologue.16.vm.txt');
  t.strictSame(readTorquePelogContext(argv, env, 'prologue', 'vm'), {
    jobId: '16.vm',
    user: 'user1',
    group: 'user1',
    jobName: 'jobB',
    queue: 'batch',
    host: 'vm',
    scriptPath: '/var/spool/torque/mom_priv/jobs/16.vm15003.SC',
    exitStatus: undefined,
    resources: { cpus: 1, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: 60, features: [] },
    sister: false,
  });
  t.end();
});

void t.test('epilogue.15.vm.txt: requested resources are $6, exit status $10, script $11', (t) => {
  const { argv, env } = readPelogFixture('epilogue.15.vm.txt');
  t.strictSame(readTorquePelogContext(argv, env, 'epilogue', 'vm'), {
    jobId: '15.vm',
    user: 'user1',
    group: 'user1',
    jobName: 'jobA',
    queue: 'batch',
    host: 'vm',
    scriptPath: '/var/spool/torque/mom_priv/jobs/15.vm15003.SC',
    exitStatus: 0,
    resources: { cpus: 2, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: 120, features: ['general'] },
    sister: false,
    usedWalltimeSeconds: 25,
  });
  t.end();
});

void t.test('epilogue.16.vm.txt', (t) => {
  const { argv, env } = readPelogFixture('epilogue.16.vm.txt');
  t.strictSame(readTorquePelogContext(argv, env, 'epilogue', 'vm'), {
    jobId: '16.vm',
    user: 'user1',
    group: 'user1',
    jobName: 'jobB',
    queue: 'batch',
    host: 'vm',
    scriptPath: '/var/spool/torque/mom_priv/jobs/16.vm15003.SC',
    exitStatus: 0,
    resources: { cpus: 1, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: 60, features: [] },
    sister: false,
    usedWalltimeSeconds: 0,
  });
  t.end();
});

void t.test('the job variables are not in the pelog environment (README fact)', (t) => {
  for (const name of ['prologue.15.vm.txt', 'epilogue.15.vm.txt']) {
    const { env } = readPelogFixture(name);
    t.equal(env.PATH, '/bin:/usr/bin');
    t.notOk(Object.keys(env).some((k) => k.startsWith('VE_')), `${name}: no VE_ variables`);
  }
  t.end();
});

void t.test('variants: parallel kinds are sisters, precancel uses the epilogue layout, 6.0 has no script path', (t) => {
  const prologue = readPelogFixture('prologue.15.vm.txt');
  t.equal(readTorquePelogContext(prologue.argv, {}, 'prologue.parallel', 'runsc').sister, true);
  t.equal(readTorquePelogContext(prologue.argv.slice(0, 7), {}, 'prologue', 'vm').scriptPath, undefined);
  const epilogue = readPelogFixture('epilogue.15.vm.txt');
  const precancel = readTorquePelogContext(epilogue.argv, {}, 'epilogue.precancel', 'vm');
  t.equal(precancel.exitStatus, 0);
  t.equal(precancel.sister, false);
  t.equal(readTorquePelogContext(epilogue.argv, {}, 'epilogue.parallel', 'runsc').sister, true);
  const deleted = [...epilogue.argv];
  deleted[9] = '271';
  t.equal(readTorquePelogContext(deleted, {}, 'epilogue', 'vm').exitStatus, 271, 'qdel of a running job');
  deleted[9] = '-2';
  t.equal(readTorquePelogContext(deleted, {}, 'epilogue', 'vm').exitStatus, -2, 'prologue abort');
  const noNodes = [...prologue.argv];
  noNodes[4] = 'walltime=00:02:00';
  t.strictSame(readTorquePelogContext(noNodes, { PBS_RESOURCE_NODES: '1:ppn=2:general' }, 'prologue', 'vm').resources, {
    cpus: 2,
    nodeCount: 1,
    memoryMiB: undefined,
    walltimeSeconds: 120,
    features: ['general'],
  });
  noNodes[4] = '';
  t.equal(readTorquePelogContext(noNodes, {}, 'prologue', 'vm').resources, undefined);
  t.end();
});

void t.test('missing or garbled argv is a torque-pelog-argv prereq error', (t) => {
  const prologue = readPelogFixture('prologue.15.vm.txt').argv;
  const epilogue = readPelogFixture('epilogue.15.vm.txt').argv;
  const bad = (argv: string[], kind: Parameters<typeof readTorquePelogContext>[2], message: RegExp, host = 'vm'): void => {
    const err = t.throws(() => readTorquePelogContext(argv, {}, kind, host)) as VeError;
    t.ok(err instanceof VeError);
    t.equal(err.code, 'torque-pelog-argv');
    t.equal(err.kind, 'prereq');
    t.match(err.message, message);
  };
  const edit = (argv: string[], index: number, value: string): string[] => argv.map((a, i) => (i === index ? value : a));
  bad([], 'prologue', /expected at least 7 arguments, got 0/);
  bad(prologue.slice(0, 6), 'prologue', /at least 7/);
  bad(prologue, 'epilogue', /at least 10/);
  bad(['/usr/bin/node', '/opt/ve-prologue.js', ...prologue], 'prologue', /\$1 is not a TORQUE job id/);
  bad(edit(prologue, 0, '15.vm/../../etc'), 'prologue', /\$1 is not a TORQUE job id/);
  bad(edit(prologue, 1, 'root;id'), 'prologue', /\$2 is not a user name/);
  bad(edit(prologue, 3, 'job\nname'), 'prologue', /\$4/);
  bad(edit(prologue, 4, 'nodes=1:ppn=x'), 'prologue', /requested resources/);
  bad(edit(prologue, 5, 'batch queue'), 'prologue', /queue/);
  bad(edit(prologue, 7, 'jobs/15.SC'), 'prologue', /script path/);
  bad(edit(epilogue, 4, 'abc'), 'epilogue', /\$5 is not a session id/);
  bad(edit(epilogue, 9, ''), 'epilogue', /\$10 is not an exit status/);
  bad(prologue, 'prologue', /host name/, '');
  t.end();
});
