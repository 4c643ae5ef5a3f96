import t, { type Test } from 'tap';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreConsoleOwnership } from '../../src/host/restore-console-ownership.js';

const owner = { uid: 4242, gid: 4343 };

function makeJobDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'pbsve-console-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

void t.test('a rotated console log (root 0600) is given back to the owner, 0600', async (t) => {
  const dir = makeJobDir(t);
  writeFileSync(join(dir, 'console.log'), 'new\n', { mode: 0o600 });
  writeFileSync(join(dir, 'console.log.0'), 'old\n', { mode: 0o644 });
  chownSync(join(dir, 'console.log.0'), owner.uid, owner.gid);
  const fixed = await restoreConsoleOwnership(dir, owner);
  t.same(fixed.sort(), ['console.log', 'console.log.0'], 'the wrong owner and the too-open mode are both fixed');
  for (const name of ['console.log', 'console.log.0']) {
    const st = statSync(join(dir, name));
    t.equal(st.uid, owner.uid, `${name} uid`);
    t.equal(st.gid, owner.gid, `${name} gid`);
    t.equal(st.mode & 0o777, 0o600, `${name} mode`);
  }
  t.same(await restoreConsoleOwnership(dir, owner), [], 'a second run changes nothing');
});

void t.test('other files and symbolic links are left alone', async (t) => {
  const dir = makeJobDir(t);
  const target = join(dir, 've.json');
  writeFileSync(target, '{}\n', { mode: 0o644 });
  symlinkSync(target, join(dir, 'console.log'));
  writeFileSync(join(dir, 'console.log.x'), 'x', { mode: 0o600 });
  chmodSync(join(dir, 'console.log.x'), 0o600);
  t.same(await restoreConsoleOwnership(dir, owner), []);
  t.equal(statSync(target).uid, 0, 'the link target keeps its owner');
  t.equal(statSync(join(dir, 'console.log.x')).uid, 0);
});

void t.test('a job dir that is gone is not an error', async (t) => {
  t.same(await restoreConsoleOwnership('/nonexistent/pbs-ve/job', owner), []);
});
