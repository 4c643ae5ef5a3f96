// Issue 10, item 10: job directories go when their VE is gone for good, after the owner's grace.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { removeOldJobDirs } from '../../src/mom-hooks/remove-old-job-dirs.js';

const stateDir = mkdtempSync(join(tmpdir(), 'pbsve-jobdirs-'));
t.teardown(() => { rmSync(stateDir, { recursive: true, force: true }); });
const old = new Date('2026-01-01T00:00:00Z');
const now = new Date('2026-01-08T00:00:01Z');

function makeDir(name: string, record: Record<string, unknown> | undefined, extra: string[] = []): void {
  const dir = join(stateDir, 'jobs', name);
  mkdirSync(dir, { recursive: true });
  const files = [...extra, ...(record === undefined ? [] : ['ve.json'])];
  if (record !== undefined) writeFileSync(join(dir, 've.json'), JSON.stringify(record));
  for (const f of extra) writeFileSync(join(dir, f), 'x');
  for (const f of files) utimesSync(join(dir, f), old, old);
  utimesSync(dir, old, old);
}

void t.test('destroyed VEs of this host go after the keep time; everything else stays', (t) => {
  const rec = (jobId: string, status: string, host = 'node1'): Record<string, unknown> => ({ jobId, host, status, domain: `pbsve-${jobId}`, owner: 'u', spec: {} });
  makeDir('1', rec('1', 'destroyed'), ['console.log', 'seq']);
  makeDir('2', rec('2', 'realized'), ['console.log']);
  makeDir('3', rec('3', 'destroyed', 'node2'));
  makeDir('4', rec('4', 'destroyed'));
  makeDir('5', rec('5', 'stopping'));
  makeDir('6', undefined, ['refused']);
  makeDir('7', rec('7', 'destroyed'), ['data-1.qcow2']);
  makeDir('8', rec('8', 'destroyed'));
  writeFileSync(join(stateDir, 'jobs', '8', 'console.log'), 'recent');
  const removed = removeOldJobDirs({ stateDir, host: 'node1', domains: new Set(['pbsve-4']), keepMs: 7 * 86400 * 1000, now });
  t.same(removed.sort(), ['1', '6']);
  t.notOk(existsSync(join(stateDir, 'jobs', '1')), 'destroyed, old: gone');
  t.ok(existsSync(join(stateDir, 'jobs', '2')), 'a live VE stays');
  t.ok(existsSync(join(stateDir, 'jobs', '3')), "another host's record stays (shared state dir)");
  t.ok(existsSync(join(stateDir, 'jobs', '4')), 'a domain of that name still exists: stays');
  t.ok(existsSync(join(stateDir, 'jobs', '5')), 'an unfinished teardown stays');
  t.ok(existsSync(join(stateDir, 'jobs', '7')), 'data disks the epilogue failed to keep stay');
  t.ok(existsSync(join(stateDir, 'jobs', '8')), 'a console log changed within the keep time stays');
  t.end();
});
