import t from 'tap';
import { classifyOrphanDomains, DEFAULT_ORPHAN_GRACE_MS } from '../../src/mom-hooks/classify-orphan-domains.js';
import type { BatchJob } from '../../src/batch/batch.js';

function job(jobId: string, patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: 've-x', owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

const t0 = new Date('2026-05-01T10:00:00Z');
const reports = [
  { host: 'node1', domains: [
    { name: 'pbsve-1', state: 'running' }, // job 1 runs here: claimed
    { name: 'pbsve-2', state: 'running' }, // job 2 runs on node2: orphan here
    { name: 'pbsve-3', state: 'shutoff' }, // job 3 ended: orphan
    { name: 'pbsve-4', state: 'running' }, // job 4 unknown: orphan
    { name: 'pbsve-5', state: 'running' }, // job 5 queued (requeued): claimed, may come back here
    { name: 'pbsve-x y', state: 'running' }, // no job id could give this name: orphan
    { name: 'guest-db', state: 'running' }, // not ours: ignored
  ] },
  { host: 'node2', domains: [{ name: 'pbsve-2', state: 'running' }] },
];
const jobs = [job('1'), job('2', { execHosts: ['node2'] }), job('3', { state: 'completed', rawState: 'COMPLETED' }), job('5', { state: 'queued', rawState: 'PENDING', execHosts: [] })];

void t.test('pbsve-* domains no live job claims are orphans, reported first', (t) => {
  const first = classifyOrphanDomains(reports, jobs, new Map(), t0);
  t.same(first.orphans.map((o) => `${o.host}/${o.domain}`), ['node1/pbsve-2', 'node1/pbsve-3', 'node1/pbsve-4', 'node1/pbsve-x y']);
  t.ok(first.orphans.every((o) => o.action === 'report'), 'nothing destroyed on first sight');
  t.match(first.orphans[0]?.reason ?? '', /job 2 runs on node2, not on node1/);
  t.match(first.orphans[1]?.reason ?? '', /job 3 has ended/);
  t.equal(first.orphans[3]?.jobId, undefined);
  t.equal(first.firstSeen.get('node1/pbsve-4'), t0.toISOString());
  t.end();
});

void t.test('destroyed only after the grace period, and only while still unclaimed', (t) => {
  const first = classifyOrphanDomains(reports, jobs, new Map(), t0);
  const early = classifyOrphanDomains(reports, jobs, first.firstSeen, new Date(t0.getTime() + DEFAULT_ORPHAN_GRACE_MS - 1));
  t.ok(early.orphans.every((o) => o.action === 'report'));
  t.equal(early.firstSeen.get('node1/pbsve-4'), t0.toISOString(), 'first sighting kept');
  const late = new Date(t0.getTime() + DEFAULT_ORPHAN_GRACE_MS);
  // meanwhile job 4 appeared running on node1 (a slow prologue): it claims its domain again
  const claimed = classifyOrphanDomains(reports, [...jobs, job('4')], first.firstSeen, late);
  t.same(claimed.orphans.filter((o) => o.action === 'destroy').map((o) => o.domain), ['pbsve-2', 'pbsve-3', 'pbsve-x y']);
  t.notOk(claimed.firstSeen.has('node1/pbsve-4'), 'a claimed domain forgets its sighting: a new orphan period starts from zero');
  const again = classifyOrphanDomains(reports, jobs, claimed.firstSeen, late);
  t.equal(again.orphans.find((o) => o.domain === 'pbsve-4')?.action, 'report', 'grace restarts after a claim');
  t.end();
});

void t.test('an unreadable remembered time restarts the grace period', (t) => {
  const r = classifyOrphanDomains([{ host: 'node1', domains: [{ name: 'pbsve-4', state: 'running' }] }], [], new Map([['node1/pbsve-4', 'garbage']]), t0, 1000);
  t.equal(r.orphans[0]?.action, 'report');
  t.equal(r.firstSeen.get('node1/pbsve-4'), t0.toISOString());
  t.end();
});
