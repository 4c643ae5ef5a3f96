import t from 'tap';
import { findVeStateChanges } from '../../src/mom-hooks/find-ve-state-changes.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import type { DomainInfo } from '../../src/virt/virt.js';

const spec = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const record = (jobId: string, status: VeJobRecord['status'] = 'realized'): VeJobRecord => ({
  jobId, spec, owner: 'u', host: 'node1', domain: `pbsve-${jobId}`, uri: 'x', roUri: 'y', startCount: 1, status, reason: '', emulated: false,
});
const dom = (name: string, state: DomainInfo['state']): DomainInfo => ({ name, state, persistent: true });

void t.test('a running VE is not reported again; a crashed, stopped or vanished one is, once', (t) => {
  const records = [record('1'), record('2'), record('3'), record('4'), record('5', 'destroyed')];
  const domains = [dom('pbsve-1', 'running'), dom('pbsve-2', 'crashed'), dom('pbsve-3', 'shutoff')];
  const found = findVeStateChanges(records, domains, new Map());
  t.same(found.changes.map((c) => [c.record.jobId, c.state, c.reason]), [
    ['2', 'stopped', 'guest crashed'], ['3', 'stopped', 'guest powered off'], ['4', 'failed', 'domain disappeared behind pbs-ve'],
  ]);
  const again = findVeStateChanges(records, domains, new Map([['2', 'stopped'], ['3', 'stopped'], ['4', 'failed']]));
  t.same(again.changes, [], 'nothing new to report');
  t.end();
});

void t.test('pbsve domains no realized job claims are orphans; foreign domains are none of our business', (t) => {
  const found = findVeStateChanges([record('1'), record('5', 'destroyed')], [dom('pbsve-1', 'running'), dom('pbsve-5', 'running'), dom('pbsve-99', 'running'), dom('site-vm', 'running')], new Map());
  t.same(found.orphans.map((d) => d.name), ['pbsve-5', 'pbsve-99']);
  t.end();
});
