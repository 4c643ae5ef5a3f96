// The wait display: one redrawn line on a terminal, nothing elsewhere; create --wait says why it waits.
import t from 'tap';
import { formatWaitLine, startWaitProgress } from '../../src/cli/wait-progress.js';
import { waitForVeRunning } from '../../src/qsub-wrappers/wait-for-ve-running.js';
import type { Batch, BatchJob } from '../../src/batch/batch.js';
import type { Inventory, VeRecord } from '../../src/inventory/inventory.js';

void t.test('the line says what, the latest news, and how long', (t) => {
  t.equal(formatWaitLine('VE web1 to run', 'pending: Resources', 12_400), 'waiting for VE web1 to run: pending: Resources, 12 s');
  t.equal(formatWaitLine('x', '', 185_000), 'waiting for x, 3 min 5 s');
  t.end();
});

void t.test('on a terminal: redrawn in place, ended with the outcome; elsewhere: nothing at all', (t) => {
  const written: string[] = [];
  let now = 1000;
  const p = startWaitProgress('VE web1 to run', { isTTY: true, write: (s: string) => written.push(s) }, () => now);
  now = 3500;
  p.update('pending: Priority');
  now = 5000;
  p.finish('running');
  p.update('after the end');
  t.equal(written[0], '\r\u001b[Kwaiting for VE web1 to run, 0 s');
  t.equal(written[1], '\r\u001b[Kwaiting for VE web1 to run: pending: Priority, 2 s');
  t.equal(written[2], '\r\u001b[KVE web1 to run: running after 4.0 s\n');
  t.equal(written.length, 3, 'silent after finish');
  const plain: string[] = [];
  const q = startWaitProgress('x', { isTTY: false, write: (s: string) => plain.push(s) });
  q.update('y');
  q.finish('z');
  t.same(plain, [], 'not a terminal: nothing');
  t.end();
});

void t.test('create --wait: the pending reason, then running; a job that ends first is an error', async (t) => {
  const states: (Partial<BatchJob> | undefined)[] = [{ state: 'queued', rawState: 'PENDING', waitReason: 'other jobs are ahead (Slurm: Priority)' }, { state: 'running', execHosts: ['node1'] }];
  const ldap: (Partial<VeRecord> | undefined)[] = [undefined, undefined, { state: 'running', host: 'node1' }];
  const batch = { getJob: () => Promise.resolve(states.shift() as BatchJob | undefined) } as unknown as Batch;
  const inventory = { getVe: () => Promise.resolve(ldap.shift() as VeRecord | undefined) } as unknown as Inventory;
  const news: string[] = [];
  let ms = 0;
  const clock = { now: () => new Date(ms), sleep: (d: number) => { ms += d; return Promise.resolve(); } };
  const outcome = await waitForVeRunning('12', 60_000, { batch, inventory, clock, progress: { update: (d) => news.push(d), finish: (o) => news.push(`= ${o}`) } });
  t.equal(outcome, 'running');
  t.same(news, ['pending: other jobs are ahead (Slurm: Priority)', 'starting on node1', 'running on node1', '= running']);

  const gone = { getJob: () => Promise.resolve(undefined) } as unknown as Batch;
  const empty = { getVe: () => Promise.resolve(undefined) } as unknown as Inventory;
  await t.rejects(waitForVeRunning('13', 60_000, { batch: gone, inventory: empty, clock, progress: { update: () => undefined, finish: () => undefined } }), { code: 've-not-started' });
  const waiting = { getJob: () => Promise.resolve({ state: 'queued', rawState: 'PENDING', waitReason: 'held' }) } as unknown as Batch;
  await t.rejects(waitForVeRunning('14', 5000, { batch: waiting, inventory: empty, clock, progress: { update: () => undefined, finish: () => undefined } }), { code: 'wait-timeout', message: /not running after 5 s, pending: held; the job stays submitted/ });
});
