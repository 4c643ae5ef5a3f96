// The prologue reads the job script TORQUE names: an interactive job (ve ssh's relay, qsub -I) has no script file
// on its host, which means "no VE" for it; any other missing or unreadable script is still an error.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readPelogJobScript } from '../../src/host/read-pelog-context.js';
import { parseQstatXml } from '../../src/batch/parse-qstat-xml.js';
import { createFakeBatch } from '../fakes/fake-batch.js';
import type { PelogContext } from '../../src/batch/batch.js';

const dir = mkdtempSync(join(tmpdir(), 'pbsve-pelog-script-'));
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
const ctx = (jobId: string, scriptPath: string): PelogContext => ({
  jobId, user: 'alice', group: undefined, jobName: undefined, queue: 'batch', host: 'node1', scriptPath, exitStatus: undefined, resources: undefined, sister: false,
});

void t.test('a script file is read; a missing one is no script only for an interactive job', async (t) => {
  const batch = createFakeBatch({ '7.vm': { interactive: true }, '8.vm': {} });
  writeFileSync(join(dir, '6.vm.SC'), '#!/bin/sh\necho hi\n');
  t.equal(await readPelogJobScript(ctx('6.vm', join(dir, '6.vm.SC')), batch), '#!/bin/sh\necho hi\n');
  t.equal(await readPelogJobScript(ctx('7.vm', join(dir, '7.vm.SC')), batch), undefined, 'interactive: no script, so no VE');
  await t.rejects(readPelogJobScript(ctx('8.vm', join(dir, '8.vm.SC')), batch), { code: 'job-script-unreadable' }, 'a batch job without its script: still the host fault it was');
  await t.rejects(readPelogJobScript(ctx('9.vm', join(dir, '9.vm.SC')), batch), { code: 'job-script-unreadable' }, 'a job the batch system does not know');
});

void t.test('qstat -x: <interactive>True</interactive> marks the job interactive', (t) => {
  const xml = (extra: string): string => `<Data><Job><Job_Id>7.vm</Job_Id><Job_Name>vessh-a</Job_Name><Job_Owner>alice@vm</Job_Owner><job_state>R</job_state><queue>batch</queue>${extra}</Job></Data>`;
  t.equal(parseQstatXml(xml('<interactive>True</interactive>'))[0]?.interactive, true);
  t.equal(parseQstatXml(xml(''))[0]?.interactive, undefined, 'absent for a batch job');
  t.end();
});
