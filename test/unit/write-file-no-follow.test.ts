// Issue 10, item 6: root writes never go through a link (or a file) someone else planted.
import t from 'tap';
import { chmodSync, chownSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { appendFileNoFollow, writeFileNoFollow } from '../../src/core/write-file-no-follow.js';
import { buildVemonOutputPath, ensureVemonOutputDir } from '../../src/events/vemon-output-path.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-nofollow-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
const secret = join(dir, 'secret');
writeFileSync(secret, 'root only\n', { mode: 0o600 });

void t.test('a whole-file write replaces a planted link, never writes through it', (t) => {
  const target = join(dir, 've.json');
  symlinkSync(secret, target);
  writeFileNoFollow(target, '{"ok":true}\n', { mode: 0o644 });
  t.equal(readFileSync(secret, 'utf8'), 'root only\n', 'the link target is untouched');
  t.ok(lstatSync(target).isFile(), 'the link was replaced by a file');
  t.equal(statSync(target).mode & 0o777, 0o644);
  t.end();
});

void t.test('an append refuses a link, a hard link and a file of another owner', (t) => {
  const log = join(dir, 'pbs-ve.log');
  symlinkSync(secret, log);
  t.throws(() => { appendFileNoFollow(log, 'x\n'); }, { code: 'ELOOP' });
  const hard = join(dir, 'hard.log');
  linkSync(secret, hard);
  t.throws(() => { appendFileNoFollow(hard, 'x\n'); }, /one link/);
  t.equal(readFileSync(secret, 'utf8'), 'root only\n');
  if (process.geteuid?.() === 0) {
    // a file an ordinary user (uid 65534) created first under the log's name
    const foreign = join(dir, 'foreign.log');
    writeFileSync(foreign, '');
    chownSync(foreign, 65534, 65534);
    t.throws(() => { appendFileNoFollow(foreign, 'x\n'); }, /not a plain file of uid 0/);
    t.equal(readFileSync(foreign, 'utf8'), '');
  }
  const fine = join(dir, 'fine.log');
  appendFileNoFollow(fine, 'a\n');
  appendFileNoFollow(fine, 'b\n');
  t.equal(readFileSync(fine, 'utf8'), 'a\nb\n');
  t.end();
});

void t.test('vemon job output goes to a root-only directory, never the log directory', (t) => {
  const state = join(dir, 'state');
  t.equal(buildVemonOutputPath(state), join(state, 'monitor', 'vemon-%j.out'));
  ensureVemonOutputDir(state);
  t.equal(statSync(join(state, 'monitor')).mode & 0o777, 0o700);
  chmodSync(join(state, 'monitor'), 0o1777);
  t.throws(() => ensureVemonOutputDir(state), /no one else can write/);
  t.end();
});
