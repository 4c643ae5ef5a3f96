import t from 'tap';
import { readFileSync } from 'node:fs';
import type { BatchNode } from '../../src/batch/batch.js';
import { mapTorqueNodeState, parseNodeJobs, parsePbsnodesStatus, parsePbsnodesXml } from '../../src/batch/parse-pbsnodes-xml.js';
import { VeError } from '../../src/core/ve-error.js';

const FIXTURES = new URL('../../../test/fixtures/torque/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

// physmem=24683656kb -> 24105.1 MiB, rounded down: a node's capacity is never overstated
const vm: BatchNode = {
  name: 'vm',
  state: 'busy',
  rawState: 'job-exclusive',
  cpus: 2,
  memoryMiB: 24105,
  features: ['general'],
  jobIds: ['14.vm', '15.vm'],
  note: undefined,
};
const runsc: BatchNode = { name: 'runsc', state: 'free', rawState: 'free', cpus: 2, memoryMiB: 24105, features: ['vemon'], jobIds: [], note: undefined };

void t.test('pbsnodes-x.xml: one job-exclusive node, one free', (t) => {
  t.strictSame(parsePbsnodesXml(fixture('pbsnodes-x.xml')), [vm, runsc]);
  t.end();
});

void t.test('pbsnodes-x-offline.xml: pbsnodes -o -N "maintenance window"', (t) => {
  t.strictSame(parsePbsnodesXml(fixture('pbsnodes-x-offline.xml')), [
    vm,
    { ...runsc, state: 'offline', rawState: 'offline', note: 'maintenance window' },
  ]);
  t.end();
});

void t.test('state words and comma lists of states', (t) => {
  t.equal(mapTorqueNodeState('free'), 'free');
  t.equal(mapTorqueNodeState('job-exclusive'), 'busy');
  t.equal(mapTorqueNodeState('busy'), 'busy');
  t.equal(mapTorqueNodeState('offline'), 'offline');
  t.equal(mapTorqueNodeState('down'), 'down');
  t.equal(mapTorqueNodeState('down,offline'), 'down');
  t.equal(mapTorqueNodeState('offline,job-exclusive'), 'offline');
  t.equal(mapTorqueNodeState('state-unknown,down'), 'down');
  t.equal(mapTorqueNodeState('state-unknown'), 'unknown');
  t.equal(mapTorqueNodeState('job-sharing'), 'free');
  t.equal(mapTorqueNodeState('something-new'), 'unknown');
  const [node] = parsePbsnodesXml(fixture('pbsnodes-x.xml').replace('<state>job-exclusive</state>', '<state>down,offline</state>'));
  t.equal(node?.state, 'down');
  t.equal(node?.rawState, 'down,offline');
  t.end();
});

void t.test('jobs list: slot/jobid pairs, ranges, one entry per job', (t) => {
  t.strictSame(parseNodeJobs('0/14.vm,1/15.vm'), ['14.vm', '15.vm']);
  t.strictSame(parseNodeJobs('0-1/14.vm,2/14.vm'), ['14.vm']);
  t.strictSame(parseNodeJobs(undefined), []);
  t.end();
});

void t.test('status: K=V with spaces, empty values and a comma inside uname', (t) => {
  const status = parsePbsnodesStatus('opsys=linux,uname=Linux vm 6.1 #1 SMP, x86_64,gres=,varattr= ,availmem=23989276kb,physmem=24683656kb');
  t.equal(status.uname, 'Linux vm 6.1 #1 SMP, x86_64');
  t.equal(status.gres, '');
  t.equal(status.varattr, ' ');
  t.equal(status.availmem, '23989276kb');
  t.equal(status.physmem, '24683656kb');
  t.end();
});

void t.test('garbage is a torque-parse environment error naming the node', (t) => {
  const err = t.throws(() => parsePbsnodesXml(fixture('pbsnodes-x.xml').replace('<np>2</np>', '<np>two</np>'))) as VeError;
  t.ok(err instanceof VeError);
  t.equal(err.code, 'torque-parse');
  t.equal(err.kind, 'environment');
  t.match(err.message, /pbsnodes -x output, node "vm": np/);
  t.throws(() => parsePbsnodesXml('pbsnodes: Unknown node'), { code: 'torque-parse' });
  t.throws(() => parsePbsnodesXml(fixture('pbsnodes-x.xml').replace('<name>vm</name>', '<name>-o</name>')), { code: 'torque-parse' });
  t.strictSame(parsePbsnodesXml(''), []);
  t.end();
});
