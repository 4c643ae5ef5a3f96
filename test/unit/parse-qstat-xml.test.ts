import t from 'tap';
import { readFileSync } from 'node:fs';
import type { BatchJob } from '../../src/batch/batch.js';
import { parseExecHosts, parseQstatXml, parseVariableList } from '../../src/batch/parse-qstat-xml.js';
import { VeError } from '../../src/core/ve-error.js';

const FIXTURES = new URL('../../../test/fixtures/torque/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

const pbsVariables = (queue: string): Record<string, string> => ({
  PBS_O_QUEUE: queue,
  PBS_O_HOME: '/home/user1',
  PBS_O_LOGNAME: 'user1',
  PBS_O_PATH: '/usr/local/bin:/usr/bin:/bin',
  PBS_O_SHELL: '/bin/bash',
  PBS_O_LANG: 'C.UTF-8',
  PBS_O_WORKDIR: '/home/user1/work',
  PBS_O_HOST: 'vm',
  PBS_O_SERVER: 'vm',
});

const one = { cpus: 1, nodeCount: 1, memoryMiB: undefined, features: [] };

// one expected record per job, written out from the fixture by hand
function job(jobId: string, fields: Partial<BatchJob>): BatchJob {
  return {
    jobId,
    name: '',
    owner: 'user1',
    state: 'completed',
    rawState: 'C',
    queue: 'batch',
    execHosts: ['vm'],
    variables: pbsVariables('batch'),
    comment: undefined,
    resources: { ...one, walltimeSeconds: 60 },
    startCount: 1,
    exitStatus: 0,
    submitTime: undefined,
    startTime: undefined,
    ...fields,
  };
}

const smoke = (id: string, time: number): BatchJob =>
  job(id, { name: 'smoke', comment: 'Job started on Mon Nov 23 at 10:53', submitTime: time, startTime: time });
const smokev = (id: string, time: number): BatchJob =>
  job(id, {
    name: 'smokev',
    queue: 'vemon',
    execHosts: ['runsc'],
    variables: pbsVariables('vemon'),
    comment: 'Job started on Mon Nov 23 at 10:53',
    resources: { ...one, walltimeSeconds: 600, features: ['vemon'] },
    submitTime: time,
    startTime: time,
  });
const hour = { ...one, walltimeSeconds: 3600 };

const running14 = job('14.vm', {
  name: 've-web1-x',
  state: 'running',
  rawState: 'R',
  variables: { VE_DESIRED: 'suspended' },
  comment: 'Job started on Mon Nov 23 at 10:56',
  resources: { ...one, memoryMiB: 256, walltimeSeconds: 300 },
  exitStatus: undefined,
  submitTime: 1795431415,
  startTime: 1795431415,
});
const running15 = job('15.vm', {
  name: 've-spec-b64',
  state: 'running',
  rawState: 'R',
  variables: {
    ...pbsVariables('batch'),
    VE_NAME: 'web2',
    VE_TYPE: 'lxc',
    VE_IMAGE: 'tiny',
    VE_SPEC_B64: 'eyJuYW1lIjoid2ViMiJ9',
  },
  comment: 'Job started on Mon Nov 23 at 10:57',
  resources: { cpus: 1, nodeCount: 1, memoryMiB: 128, walltimeSeconds: 600, features: ['general'] },
  exitStatus: undefined,
  submitTime: 1795431435,
  startTime: 1795431435,
});
const exit3 = job('16.vm', {
  name: 'exit3',
  execHosts: ['runsc'],
  comment: 'Job started on Mon Nov 23 at 10:57',
  exitStatus: 3,
  submitTime: 1795431435,
  startTime: 1795431435,
});
const held = job('17.vm', {
  name: 'held',
  state: 'held',
  rawState: 'H',
  execHosts: [],
  resources: { cpus: 2, nodeCount: 1, memoryMiB: undefined, walltimeSeconds: 60, features: [] },
  startCount: 0,
  exitStatus: undefined,
  submitTime: 1795431435,
  waitReason: 'held by its owner (TORQUE Hold_Types u)',
});
const queued = job('18.vm', {
  name: 'queued-big',
  state: 'queued',
  rawState: 'Q',
  execHosts: [],
  comment: 'Not Running: Not enough of the right type of nodes are available',
  resources: { cpus: 4, nodeCount: 2, memoryMiB: undefined, walltimeSeconds: 60, features: [] },
  startCount: 0,
  exitStatus: undefined,
  submitTime: 1795431435,
  // recorded from live TORQUE 6.1's pbs_sched: the reason a user sees in ve show
  waitReason: 'no host with the VE\'s type has enough free cpus or memory now (TORQUE: Not Running: Not enough of the right type of nodes are available)',
});

const ALL: BatchJob[] = [
  smoke('0.vm', 1795431185),
  smokev('1.vm', 1795431185),
  smoke('2.vm', 1795431187),
  smokev('3.vm', 1795431187),
  smoke('4.vm', 1795431189),
  smokev('5.vm', 1795431189),
  job('6.vm', { name: 'depA', comment: 'Job started on Mon Nov 23 at 10:53', resources: hour, submitTime: 1795431197, startTime: 1795431197 }),
  job('7.vm', { name: 'depB', comment: 'Job started on Mon Nov 23 at 10:53', resources: hour, submitTime: 1795431197, startTime: 1795431203 }),
  job('8.vm', {
    name: 'depC',
    execHosts: [],
    comment: 'Job deleted as result of dependency on job 6.vm',
    resources: hour,
    startCount: 0,
    exitStatus: 271,
    endCause: 'cancelled',
    submitTime: 1795431197,
  }),
  job('9.vm', { name: 'depD', comment: 'Job started on Mon Nov 23 at 10:53', resources: hour, submitTime: 1795431197, startTime: 1795431203 }),
  job('10.vm', { name: 'plainE', comment: 'Job started on Mon Nov 23 at 10:53', resources: hour, submitTime: 1795431197, startTime: 1795431197 }),
  job('11.vm', { name: 'uA', comment: 'Job started on Mon Nov 23 at 10:54', resources: hour, submitTime: 1795431230, startTime: 1795431272 }),
  job('12.vm', { name: 'uB', comment: 'Job started on Mon Nov 23 at 10:54', resources: hour, submitTime: 1795431230, startTime: 1795431292 }),
  job('13.vm', { name: 'uC', comment: 'Job started on Mon Nov 23 at 10:54', resources: hour, submitTime: 1795431230, startTime: 1795431272 }),
  running14,
  running15,
  exit3,
  held,
  queued,
];

void t.test('qstat-f-x-all.xml: every job, every field', (t) => {
  const jobs = parseQstatXml(fixture('qstat-f-x-all.xml'));
  t.equal(jobs.length, 19);
  for (const [index, expected] of ALL.entries()) {
    t.strictSame(jobs[index], expected, `job ${expected.jobId}`);
  }
  t.end();
});

void t.test('single-job fixtures parse to the same record as in the full listing', (t) => {
  t.strictSame(parseQstatXml(fixture('qstat-f-x-running.xml')), [running15]);
  t.strictSame(parseQstatXml(fixture('qstat-f-x-running-after-qalter.xml')), [running14]);
  t.strictSame(parseQstatXml(fixture('qstat-f-x-completed-exit3.xml')), [exit3]);
  t.strictSame(parseQstatXml(fixture('qstat-f-x-held.xml')), [held]);
  t.strictSame(parseQstatXml(fixture('qstat-f-x-queued.xml')), [queued]);
  t.end();
});

void t.test('after qalter -v the VE variables are gone: the adapter reports only what is there', (t) => {
  const [after] = parseQstatXml(fixture('qstat-f-x-running-after-qalter.xml'));
  t.strictSame(after?.variables, { VE_DESIRED: 'suspended' });
  t.equal(after?.variables.PBS_O_WORKDIR, undefined);
  t.equal(after?.variables.VE_SPEC, undefined);
  t.equal(after?.name, 've-web1-x', 'qalter -N while running took effect');
  t.end();
});

void t.test('job_state E (exiting) and unknown letters', (t) => {
  const xml = fixture('qstat-f-x-running.xml');
  t.equal(parseQstatXml(xml.replace('<job_state>R</job_state>', '<job_state>E</job_state>'))[0]?.state, 'exiting');
  t.equal(parseQstatXml(xml.replace('<job_state>R</job_state>', '<job_state>W</job_state>'))[0]?.state, 'queued');
  const odd = parseQstatXml(xml.replace('<job_state>R</job_state>', '<job_state>S</job_state>'))[0];
  t.equal(odd?.state, 'other');
  t.equal(odd?.rawState, 'S');
  t.end();
});

void t.test('no jobs: empty output or an empty <Data>', (t) => {
  t.strictSame(parseQstatXml(''), []);
  t.strictSame(parseQstatXml('\n'), []);
  t.strictSame(parseQstatXml('<?xml version="1.0"?>\n<Data></Data>'), []);
  t.end();
});

void t.test('exec_host forms give unique hosts, mother superior first', (t) => {
  t.strictSame(parseExecHosts('vm/0+vm/1'), ['vm']);
  t.strictSame(parseExecHosts('vm/0-1'), ['vm']);
  t.strictSame(parseExecHosts('runsc/0+vm/0-1+runsc/1'), ['runsc', 'vm']);
  t.strictSame(parseExecHosts('n1.example.org/0,2+n2.example.org/1'), ['n1.example.org', 'n2.example.org']);
  t.strictSame(parseExecHosts(undefined), []);
  t.throws(() => parseExecHosts('-rf/0'), { code: 'torque-parse' });
  t.end();
});

void t.test('Variable_List: commas split, fragments of mangled values and odd names are dropped', (t) => {
  // what TORQUE stored for -v VE_SPEC={"name":"web1","type":"lxc"},OTHER=a b
  t.strictSame(parseVariableList('VE_SPEC={"name":"web1","type":"lxc"},OTHER=a b'), { VE_SPEC: '{"name":"web1"', OTHER: 'a b' });
  const odd = parseVariableList('A=1=2,B=,=x,1X=y,__proto__=z');
  t.strictSame(Object.keys(odd), ['A', 'B', '__proto__']);
  t.equal(odd.A, '1=2');
  t.equal(odd.B, '');
  t.equal(Object.getOwnPropertyDescriptor(odd, '__proto__')?.value, 'z', '__proto__ stays a plain own value');
  t.equal(Object.getPrototypeOf(odd), Object.prototype);
  t.strictSame(parseVariableList(''), {});
  t.end();
});

void t.test('Resource_List nodes with several node groups', (t) => {
  const xml = fixture('qstat-f-x-queued.xml').replace('<nodes>2:ppn=2</nodes>', '<nodes>2:ppn=2:general+1:ppn=1:kvm</nodes>');
  t.strictSame(parseQstatXml(xml)[0]?.resources, { cpus: 5, nodeCount: 3, memoryMiB: undefined, walltimeSeconds: 60, features: ['general', 'kvm'] });
  t.end();
});

void t.test('garbage is a torque-parse environment error naming the job and the field', (t) => {
  const bad = (xml: string, message: RegExp): void => {
    const err = t.throws(() => parseQstatXml(xml)) as VeError;
    t.ok(err instanceof VeError);
    t.equal(err.code, 'torque-parse');
    t.equal(err.kind, 'environment');
    t.match(err.message, message);
  };
  bad('qstat: something odd', /qstat -f -x output: not well-formed XML/);
  bad('<Other/>', /root element is not <Data>/);
  const running = fixture('qstat-f-x-running.xml');
  bad(running.replace('<walltime>00:10:00</walltime>', '<walltime>ten minutes</walltime>'), /job "15\.vm".*walltime/);
  bad(running.replace('<mem>128mb</mem>', '<mem>lots</mem>'), /job "15\.vm".*size/);
  bad(running.replace('<start_count>1</start_count>', '<start_count>x</start_count>'), /start_count/);
  bad(running.replace('<Job_Id>15.vm</Job_Id>', '<Job_Id>15.vm; rm -rf /</Job_Id>'), /Job_Id: not a TORQUE job id/);
  bad(running.replace('<queue>batch</queue>', '<queue>batch</queue><queue>vemon</queue>'), /<queue> is not a single text value/);
  t.end();
});
