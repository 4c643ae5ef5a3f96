import t from 'tap';
import {
  buildTorqueJobResources,
  parseTorqueNodeSpec,
  parseTorqueResourceList,
  parseTorqueSizeBytes,
  parseTorqueSizeMiB,
  parseTorqueWalltime,
} from '../../src/batch/parse-torque-resources.js';

void t.test('pelog resource lists ($5 of the prologue, $6 and $7 of the epilogue)', (t) => {
  t.strictSame(parseTorqueResourceList('nodes=1:ppn=2:general,walltime=00:02:00,neednodes=1:ppn=2:general'), {
    nodes: '1:ppn=2:general',
    walltime: '00:02:00',
    neednodes: '1:ppn=2:general',
  });
  t.strictSame(parseTorqueResourceList('cput=00:00:00,vmem=11640kb,walltime=00:00:25,mem=6788kb,energy_used=0'), {
    cput: '00:00:00',
    vmem: '11640kb',
    walltime: '00:00:25',
    mem: '6788kb',
    energy_used: '0',
  });
  t.strictSame(parseTorqueResourceList(''), {});
  t.throws(() => parseTorqueResourceList('nodes=1,garbage'), { code: 'torque-parse', kind: 'environment' });
  t.throws(() => parseTorqueResourceList('=1'), { code: 'torque-parse' });
  t.end();
});

void t.test('node specs', (t) => {
  t.strictSame(parseTorqueNodeSpec('1:ppn=2:general'), { nodeCount: 1, cpus: 2, features: ['general'] });
  t.strictSame(parseTorqueNodeSpec('2:ppn=2+1:ppn=1'), { nodeCount: 3, cpus: 5, features: [] });
  t.strictSame(parseTorqueNodeSpec('1'), { nodeCount: 1, cpus: 1, features: [] });
  t.strictSame(parseTorqueNodeSpec('1:vemon'), { nodeCount: 1, cpus: 1, features: ['vemon'] });
  t.strictSame(parseTorqueNodeSpec('vm:ppn=2+runsc:ppn=1:kvm:gpus=1'), { nodeCount: 2, cpus: 3, features: ['kvm'] });
  t.throws(() => parseTorqueNodeSpec('1:ppn=x'), { code: 'torque-parse' });
  t.throws(() => parseTorqueNodeSpec('0:ppn=2'), { code: 'torque-parse' });
  t.throws(() => parseTorqueNodeSpec('1:$(id)'), { code: 'torque-parse' });
  t.end();
});

void t.test('sizes to MiB, rounded up', (t) => {
  t.equal(parseTorqueSizeMiB('128mb'), 128);
  t.equal(parseTorqueSizeMiB('1gb'), 1024);
  t.equal(parseTorqueSizeMiB('1024kb'), 1);
  t.equal(parseTorqueSizeMiB('2048b'), 1);
  t.equal(parseTorqueSizeMiB('6788kb'), 7);
  t.equal(parseTorqueSizeMiB('0kb'), 0);
  t.equal(parseTorqueSizeMiB('256MB'), 256);
  t.equal(parseTorqueSizeBytes('1kw'), 8192);
  t.equal(parseTorqueSizeBytes('3'), 3);
  t.throws(() => parseTorqueSizeMiB('1.5gb'), { code: 'torque-parse' });
  t.throws(() => parseTorqueSizeMiB('lots'), { code: 'torque-parse' });
  t.end();
});

void t.test('walltime as HH:MM:SS, seconds, MM:SS or DD:HH:MM:SS', (t) => {
  t.equal(parseTorqueWalltime('00:10:00'), 600);
  t.equal(parseTorqueWalltime('600'), 600);
  t.equal(parseTorqueWalltime('01:00:00'), 3600);
  t.equal(parseTorqueWalltime('02:30'), 150);
  t.equal(parseTorqueWalltime('1:00:00:00'), 86400);
  t.throws(() => parseTorqueWalltime('1h'), { code: 'torque-parse' });
  t.throws(() => parseTorqueWalltime('1:2:3:4:5'), { code: 'torque-parse' });
  t.end();
});

void t.test('Resource_List to JobResources: nodes, else neednodes (queue default), else procs', (t) => {
  t.strictSame(buildTorqueJobResources({ nodes: '1:ppn=2:general', walltime: '00:02:00', neednodes: '1:ppn=2:general' }), {
    cpus: 2,
    nodeCount: 1,
    memoryMiB: undefined,
    walltimeSeconds: 120,
    features: ['general'],
  });
  t.strictSame(buildTorqueJobResources({ neednodes: '1:vemon', walltime: '00:10:00' }), {
    cpus: 1,
    nodeCount: 1,
    memoryMiB: undefined,
    walltimeSeconds: 600,
    features: ['vemon'],
  });
  t.strictSame(buildTorqueJobResources({ procs: '4', nodect: '2', mem: '1gb' }), {
    cpus: 4,
    nodeCount: 2,
    memoryMiB: 512, // per node: TORQUE's mem=1gb is the job's total
    walltimeSeconds: undefined,
    features: [],
  });
  t.strictSame(buildTorqueJobResources({}), { cpus: 1, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: undefined, features: [] });
  t.end();
});
