import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { nextEventSeq } from '../../src/events/next-event-seq.js';
import { foldEvent } from '../../src/core/fold-event.js';
import type { VeEvent } from '../../src/core/ve-event.js';

void t.test('host seqs step by 16 from the start count base, and a requeue starts above the past', async (t) => {
  const dir = makeTempDir(join(tmpdir(), 'seq-'));
  t.equal(await nextEventSeq(dir, 1), 1_000_016);
  t.equal(await nextEventSeq(dir, 1), 1_000_032);
  t.equal(await nextEventSeq(dir, 2), 2_000_016, 'second start of the job (requeue)');
  const fresh = makeTempDir(join(tmpdir(), 'seq-'));
  t.equal(await nextEventSeq(fresh, 2), 2_000_016, 'another host after a requeue sorts after the first run');
});

void t.test('an epilogue event in flight outranks reconcile\'s "lost" guess', async (t) => {
  const dir = makeTempDir(join(tmpdir(), 'seq-'));
  const running = await nextEventSeq(dir, 1);
  const destroyedSeq = await nextEventSeq(dir, 1);
  const base: VeEvent = { version: 1, jobId: '5', seq: running, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'u', name: 'w', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, domain: 'pbsve-5', source: 'prologue', reason: 'r' };
  const afterRunning = foldEvent(undefined, base).record;
  const lost = foldEvent(afterRunning, { ...base, seq: running + 1, state: 'lost', source: 'reconcile' }).record;
  const destroyed = foldEvent(lost, { ...base, seq: destroyedSeq, state: 'destroyed', source: 'epilogue' });
  t.equal(destroyed.record?.state, 'destroyed');
  t.equal(destroyed.history.oldState, 'lost');
});
