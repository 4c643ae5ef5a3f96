import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { buildHookLog } from '../../src/host/build-hook-log.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import type { PbsVeConfig } from '../../src/config/pbs-ve-config.js';

void t.test('one event, one line: a multi-line tool message is joined, so grep by job id finds all of it', (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'pbsve-hooklog-'));
  const log = buildHookLog({ stateDir } as PbsVeConfig, 've-host-watch');
  const stderr = process.stderr.write.bind(process.stderr);
  process.stderr.write = (() => true);
  try {
    log('job 7.srv: cannot see domain pbsve-7.srv (error: failed to connect\nerror: Connection refused\n); looking again');
    log('plain line');
  } finally {
    process.stderr.write = stderr;
  }
  const lines = readFileSync(join(stateDir, 'log', 'pbs-ve.log'), 'utf8').split('\n').filter((l) => l !== '');
  t.equal(lines.length, 2);
  t.match(lines[0], /ve-host-watch\[\d+\] job 7\.srv: cannot see domain pbsve-7\.srv \(error: failed to connect \| error: Connection refused \| \); looking again$/);
  t.match(lines[1], /plain line$/);
  t.end();
});
