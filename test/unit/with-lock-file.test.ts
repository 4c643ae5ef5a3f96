// The per-VE lock the prologue now holds for a whole VE start (issue 9, defect 7) and that a hook run as
// the job owner could never take (defect 5: qdel waited 30 s for it).
import t from 'tap';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLockFile } from '../../src/core/with-lock-file.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-lock-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });

void t.test('a live holder keeps its lock however long it holds it; a waiter gives up with its pid named', async (t) => {
  const lock = join(dir, 'live.lock');
  writeFileSync(lock, `${process.pid}\n`);
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  utimesSync(lock, twoMinutesAgo, twoMinutesAgo);
  await t.rejects(withLockFile(lock, 50, () => 'taken'), { code: 'lock-timeout', message: new RegExp(`held by pid ${process.pid}`) });
});

void t.test('a lock whose holder died is taken over at once', async (t) => {
  const lock = join(dir, 'dead.lock');
  writeFileSync(lock, '999999999\n');
  t.equal(await withLockFile(lock, 5000, () => 'taken'), 'taken');
});

void t.test('a lock held far longer than any holder needs names a reused pid: taken over', async (t) => {
  const lock = join(dir, 'reused.lock');
  writeFileSync(lock, `${process.pid}\n`);
  const old = new Date(Date.now() - 16 * 60_000);
  utimesSync(lock, old, old);
  t.equal(await withLockFile(lock, 5000, () => 'taken'), 'taken');
});

void t.test('a lock that cannot be created fails at once instead of waiting out the timeout', async (t) => {
  // lock-failed, not lock-timeout: it did not spin until the deadline
  await t.rejects(withLockFile(join(dir, 'no-such-dir', 'x.lock'), 600_000, () => 'taken'), { code: 'lock-failed', kind: 'environment' });
});

void t.test('the holder writes its pid and removes the lock when done, also when its work fails', async (t) => {
  const lock = join(dir, 'mine.lock');
  const { readFileSync, existsSync } = await import('node:fs');
  t.equal(await withLockFile(lock, 1000, () => readFileSync(lock, 'utf8').trim()), String(process.pid));
  t.notOk(existsSync(lock));
  await t.rejects(withLockFile(lock, 1000, () => { throw new Error('boom'); }), /boom/);
  t.notOk(existsSync(lock));
});
