import { createFakeInventory, type FakeInventory } from '../fakes/fake-inventory.js';
import t from 'tap';
import { foldEvent } from '../../src/core/fold-event.js';
import { applyEvent, applyEvents } from '../../src/ve-monitor/apply-event.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { VeRecord } from '../../src/inventory/inventory.js';

const base: VeEvent = {
  version: 1, jobId: '17', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node2', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-17', source: 'prologue', reason: 'domain running',
};
const destroyed: VeEvent = { ...base, seq: 1_000_002, state: 'destroyed', source: 'epilogue', reason: 'job cancelled', at: '2026-11-23T10:05:00.000Z' };

// The shared in-memory Inventory: the same CAS contract as LDAP, enough for the pure fold rules.
function buildMemoryInventory(): FakeInventory {
  return createFakeInventory();
}

void t.test('a newer event replaces the record and records the old state', (t) => {
  const first = foldEvent(undefined, base);
  t.equal(first.record?.state, 'running');
  t.equal(first.history.oldState, undefined);
  const second = foldEvent(first.record, destroyed);
  t.equal(second.record?.state, 'destroyed');
  t.equal(second.history.oldState, 'running');
  const member = foldEvent(undefined, { ...base, cluster: { name: 'lab', role: 'head' } });
  t.same(member.record?.cluster, { name: 'lab', role: 'head' }, 'a member\'s cluster and role reach its record');
  t.same(foldEvent(member.record, { ...destroyed }).record?.cluster, { name: 'lab', role: 'head' }, 'an event that does not know the cluster (a monitor guess) keeps it');
  t.end();
});

void t.test('an older or equal event leaves the record alone but still yields history', (t) => {
  const current = foldEvent(undefined, destroyed).record;
  const late = foldEvent(current, base);
  t.equal(late.record, undefined);
  t.equal(late.history.state, 'running');
  t.end();
});

void t.test('applying the same event twice, or an old one after a newer one, leaves the same end state', async (t) => {
  const inv = buildMemoryInventory();
  t.equal(await applyEvent(inv, base), 'applied');
  t.equal(await applyEvent(inv, destroyed), 'applied');
  t.equal(await applyEvent(inv, destroyed), 'duplicate');
  t.equal(await applyEvent(inv, base), 'duplicate');
  t.equal(inv.ves.get('17')?.state, 'destroyed');
  t.equal(inv.history.length, 2);

  const reversed = buildMemoryInventory();
  t.equal(await applyEvent(reversed, destroyed), 'applied');
  t.equal(await applyEvent(reversed, base), 'stale');
  t.equal(reversed.ves.get('17')?.state, 'destroyed');
  t.same((await reversed.listHistory('17')).map((h) => h.state), ['running', 'destroyed']);
});

void t.test('a batch applies valid events in seq order and reports bad lines', async (t) => {
  const inv = buildMemoryInventory();
  const report = await applyEvents(inv, [destroyed, new VeError('invalid-event', 'prereq', 'forged'), base]);
  t.equal(report.applied, 2, 'sorted by seq inside the batch, so neither is stale');
  t.equal(report.stale, 0);
  t.same(report.rejected, [{ line: 2, code: 'invalid-event', message: 'forged' }]);
  t.equal(inv.ves.get('17')?.state, 'destroyed');
});

void t.test('a batch of many VEs folds them side by side, each VE in seq order, and reads an entry again when another writer changed it', async (t) => {
  const inv = buildMemoryInventory();
  const events: VeEvent[] = [];
  for (let v = 0; v < 30; v++) {
    const jobId = String(100 + v);
    events.push({ ...base, jobId, seq: 1_000_005, state: 'destroyed' }, { ...base, jobId, seq: 1_000_001 }, { ...base, jobId, seq: 1_000_003, state: 'stopped' });
  }
  // another vemon job writes VE 100 (an event of seq 1_000_002) between this batch's first and second: the remembered entry is stale
  const update = inv.updateVe.bind(inv);
  let raced = false;
  const racing = { ...inv, updateVe: async (r: VeRecord, expected: number): Promise<boolean> => {
    if (!raced && r.jobId === '100') {
      raced = true;
      const now = inv.ves.get('100');
      if (now !== undefined) inv.ves.set('100', { ...now, seq: 1_000_002, state: 'stopping' });
    }
    return update(r, expected);
  } };
  const report = await applyEvents(racing, events);
  t.equal(report.applied, 90, 'every event applied once');
  t.ok(raced, 'the race happened');
  for (let v = 0; v < 30; v++) {
    t.equal(inv.ves.get(String(100 + v))?.state, 'destroyed', `VE ${100 + v} ends destroyed`);
    t.same((await inv.listHistory(String(100 + v))).map((h) => h.seq), [1_000_001, 1_000_003, 1_000_005], 'its history complete, once each');
  }
  t.equal((await applyEvents(inv, events)).duplicate, 90, 'the same batch again changes nothing');
});
