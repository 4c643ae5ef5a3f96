import t from 'tap';
import { decideVeFate, type VeFateInput } from '../../src/core/decide-ve-fate.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';

const spec = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const record: VeJobRecord = { jobId: '7', spec, owner: 'u', host: 'node1', domain: 'pbsve-7', uri: 'x', roUri: 'y', startCount: 1, status: 'realized', reason: '', emulated: false };
const base: VeFateInput = { jobId: '7', refusal: undefined, record, stop: 'running', domainState: 'running', recovery: undefined, endedPart: undefined, downSince: undefined, now: 1_000_000, recoveryWaitMs: 600_000 };

void t.test('the job lives while the domain runs and ends, exit 0, when the guest powers off or the domain is gone', (t) => {
  t.match(decideVeFate(base), { kind: 'keep', why: 'running' });
  t.match(decideVeFate({ ...base, stop: 'guest-stopped', domainState: 'shutoff' }), { kind: 'end', outcome: 'guest-stopped', exitCode: 0, message: /pbsve-7 is shutoff: the job ends/ });
  t.match(decideVeFate({ ...base, stop: 'gone', domainState: undefined }), { kind: 'end', outcome: 'guest-stopped', message: /is gone/ });
  t.end();
});

void t.test('a refused or never realized VE ends its job with exit 1 and says why', (t) => {
  t.match(decideVeFate({ ...base, refusal: 'vcpus 2 > 1 allocated' }), { kind: 'end', outcome: 'refused', exitCode: 1, message: /refused by the prologue: vcpus 2 > 1 allocated/ });
  t.match(decideVeFate({ ...base, record: undefined }), { kind: 'end', outcome: 'not-realized', exitCode: 1 });
  t.end();
});

void t.test('a crash waits for the recovery, bounded from the later of first seen down and the recovery\'s last word', (t) => {
  const crashed = { ...base, stop: 'crashed' as const, domainState: 'shutoff' };
  t.match(decideVeFate(crashed), { kind: 'wait', until: 1_600_000, message: /is down \(crashed\); waiting up to 600 s/ });
  t.match(decideVeFate({ ...crashed, downSince: 500_000, now: 1_099_999 }), { kind: 'wait' });
  t.match(decideVeFate({ ...crashed, downSince: 500_000, now: 1_100_000 }), { kind: 'end', outcome: 'guest-stopped', message: /not recovered within 600 s \(is ve-host-report running on node1\?\)/ });
  const word = { phase: 'recovering' as const, restarts: [], reason: 'restarting', updatedAt: new Date(1_000_000).toISOString() };
  t.match(decideVeFate({ ...crashed, downSince: 500_000, now: 1_100_000, recovery: word }), { kind: 'wait', until: 1_600_000 }, 'the recovery\'s word restarts the wait');
  t.match(decideVeFate({ ...crashed, recovery: { ...word, phase: 'failed', reason: 'recovery gave up: no snapshot' } }), { kind: 'end', outcome: 'failed', exitCode: 1, message: /could not be recovered: recovery gave up: no snapshot/ });
  t.match(decideVeFate({ ...crashed, record: { ...record, status: 'failed', reason: 'gave up' } }), { kind: 'end', outcome: 'failed' });
  t.match(decideVeFate({ ...base, stop: 'guest-stopped', domainState: 'shutoff', record: { ...record, status: 'starting' } }), { kind: 'wait' }, 'a rollback under way (record starting) is waited for');
  t.end();
});

void t.test('a VE its owner stopped or suspended keeps its job; the epilogue\'s states are not the watcher\'s', (t) => {
  t.match(decideVeFate({ ...base, stop: 'guest-stopped', domainState: 'shutoff', record: { ...record, ownerState: 'stopped' } }), { kind: 'keep', why: 'owner', message: /is stopped by its owner/ });
  t.match(decideVeFate({ ...base, stop: 'gone', record: { ...record, status: 'stopping' } }), { kind: 'keep', why: 'not-ours' });
  t.end();
});

void t.test('multi-node: an ended part of this start ends the VE; a crash of part 0 is not recovered', (t) => {
  const multi = { ...record, nodes: 2, part: 0 };
  const endedPart = { jobId: '7', part: 1, state: 'stopped' as const, host: 'node2', domain: 'pbsve-7_p1', seq: 1_000_003, lastChange: '' };
  t.match(decideVeFate({ ...base, record: multi, endedPart }), { kind: 'end', outcome: 'part-stopped', exitCode: 0, message: /part 1 on node2 is stopped/ });
  t.match(decideVeFate({ ...base, record: multi, stop: 'crashed', domainState: 'shutoff' }), { kind: 'end', outcome: 'guest-stopped' });
  t.end();
});

void t.test('ve migrate: a VE moving away keeps its job whatever its domain does here; the batch system requeues it', (t) => {
  const live = { ...record, migration: { from: 'node1', to: 'node2', live: true, at: '2026-12-02T12:00:00.000Z' } };
  t.match(decideVeFate({ ...base, record: live, stop: 'gone', domainState: undefined }), { kind: 'keep', why: 'moving', message: /the VE moves to node2; the batch system requeues the job there/ }, 'live: the domain left for node2');
  t.match(decideVeFate({ ...base, record: live }), { kind: 'keep', why: 'moving' }, 'live: still running here while libvirt moves it');
  const cold = { ...record, ownerState: 'stopped' as const, migration: { from: 'node1', to: 'node2', live: false, at: '2026-12-02T12:00:00.000Z' } };
  t.match(decideVeFate({ ...base, record: cold, stop: 'guest-stopped', domainState: 'shutoff' }), { kind: 'keep', why: 'moving' }, 'cold: shut off and packed here');
  t.match(decideVeFate({ ...base, record: cold, stop: 'crashed', domainState: 'shutoff', downSince: 0 }), { kind: 'keep', why: 'moving' }, 'cold: the stop timed out and libvirt destroyed it: not a crash to wait for');
  // the destination's record is a new one, without the move: its guest's poweroff ends the job as anywhere
  t.match(decideVeFate({ ...base, record: { ...record, host: 'node2', reason: 'migrated cold from node1' }, stop: 'guest-stopped', domainState: 'shutoff' }), { kind: 'end', outcome: 'guest-stopped', exitCode: 0 });
  // a refusal and the epilogue's states still come first
  t.match(decideVeFate({ ...base, record: { ...live, status: 'stopping' }, stop: 'gone' }), { kind: 'keep', why: 'not-ours' });
  t.match(decideVeFate({ ...base, record: live, refusal: 'no room' }), { kind: 'end', outcome: 'refused' });
  t.end();
});
