import t from 'tap';
import { decideVeRecovery, recordRecovery, type RecoveryHistory } from '../../src/core/decide-ve-recovery.js';
import { classifyDomainStop } from '../../src/core/classify-domain-stop.js';
import { parseStateReason } from '../../src/virt/libvirt-virt.js';

const policy = { maxRestarts: 3, windowMs: 3600_000 };
const t0 = new Date('2026-05-01T10:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);

void t.test('the ladder: restarts up to the limit, one rollback, then give up', (t) => {
  let history: RecoveryHistory = { restarts: [] };
  const actions: string[] = [];
  for (let crash = 0; crash < 6; crash++) {
    const now = at(crash * 60_000);
    const d = decideVeRecovery(history, 's2', now, policy);
    actions.push(d.action === 'restart' ? `restart ${d.attempt}/${d.of}` : d.action === 'rollback' ? `rollback ${d.snapshot}` : `give-up: ${d.reason}`);
    history = recordRecovery(history, d, now, policy);
  }
  t.same(actions.slice(0, 5), ['restart 1/3', 'restart 2/3', 'restart 3/3', 'rollback s2', 'give-up: crashed again after the rollback to its last snapshot (and 3 restart(s) within 3600 s)']);
  t.end();
});

void t.test('without a snapshot the rollback rung is skipped', (t) => {
  const history = { restarts: [at(0), at(1000), at(2000)].map((d) => d.toISOString()) };
  t.same(decideVeRecovery(history, undefined, at(3000), policy), { action: 'give-up', reason: 'crashed 4 times within 3600 s and has no snapshot to roll back to' });
  t.end();
});

void t.test('only the window counts: a VE that ran well for an hour starts afresh', (t) => {
  const old = { restarts: [at(0), at(1000), at(2000)].map((d) => d.toISOString()), rolledBackAt: at(3000).toISOString() };
  const later = at(3000 + 3600_000);
  t.same(decideVeRecovery(old, 's1', later, policy), { action: 'restart', attempt: 1, of: 3 });
  t.same(recordRecovery(old, { action: 'restart', attempt: 1, of: 3 }, later, policy).restarts, [later.toISOString()], 'old restarts are dropped');
  // an unreadable time never counts against the VE
  t.same(decideVeRecovery({ restarts: ['garbage', 'x', 'y'] }, undefined, t0, policy), { action: 'restart', attempt: 1, of: 3 });
  t.end();
});

void t.test("libvirt's reason tells a crash from the guest's own poweroff", (t) => {
  t.equal(classifyDomainStop('running', undefined), 'running');
  t.equal(classifyDomainStop('paused', undefined), 'running', 'paused for a snapshot is not a stop');
  t.equal(classifyDomainStop(undefined, undefined), 'gone');
  t.equal(classifyDomainStop('crashed', undefined), 'crashed');
  for (const reason of ['destroyed', 'crashed', 'failed']) t.equal(classifyDomainStop('shutoff', reason), 'crashed', reason);
  t.equal(classifyDomainStop('shutoff', 'shutdown'), 'guest-stopped');
  t.equal(classifyDomainStop('shutoff', undefined), 'guest-stopped', 'no reason known: the old reading, a poweroff');
  t.equal(classifyDomainStop('shutoff', 'saved'), 'guest-stopped');
  t.same(parseStateReason('shut off (destroyed)\n'), { state: 'shutoff', reason: 'destroyed' });
  t.same(parseStateReason('running (booted)'), { state: 'running', reason: 'booted' });
  t.same(parseStateReason('shut off (from snapshot)'), { state: 'shutoff', reason: 'from snapshot' });
  t.same(parseStateReason('crashed (panicked)'), { state: 'crashed', reason: 'panicked' });
  t.same(parseStateReason('running'), { state: 'running', reason: undefined });
  t.equal(parseStateReason('exploded (badly)'), undefined);
  t.end();
});
