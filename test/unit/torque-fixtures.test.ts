import t from 'tap';
import { readFileSync } from 'node:fs';
import { parsePbsnodesXml } from '../../src/batch/parse-pbsnodes-xml.js';
import { parseQstatXml } from '../../src/batch/parse-qstat-xml.js';

// The text listings of the same TORQUE are an independent check that the XML reading is right.
const FIXTURES = new URL('../../../test/fixtures/torque/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const jobs = parseQstatXml(fixture('qstat-f-x-all.xml'));
const byId = new Map(jobs.map((j) => [j.jobId, j]));

void t.test('qstat.txt agrees with the XML on name, owner, state and queue', (t) => {
  const rows = fixture('qstat.txt').split('\n').slice(2).filter((l) => l.trim() !== '');
  t.equal(rows.length, jobs.length);
  for (const row of rows) {
    const [id, name, user, , state, queue] = row.trim().split(/\s+/);
    const job = byId.get(id ?? '');
    t.strictSame([job?.name, job?.owner, job?.rawState, job?.queue], [name, user, state, queue], `${id}`);
  }
  t.end();
});

void t.test('qstat-a-n-1.txt agrees on memory, walltime and mother superior', (t) => {
  const rows = fixture('qstat-a-n-1.txt').split('\n').filter((l) => /^[0-9]+\.vm /.test(l));
  t.equal(rows.length, jobs.length);
  for (const row of rows) {
    const cols = row.trim().split(/\s+/);
    const job = byId.get(cols[0] ?? '');
    const memory = cols[7] === '--' ? undefined : Number(cols[7]?.replace('mb', ''));
    const [h, m, s] = (cols[8] ?? '').split(':').map(Number);
    const host = cols[11] === '--' ? undefined : cols[11]?.split('/')[0];
    t.equal(job?.resources.memoryMiB, memory, `${cols[0]} memory`);
    t.equal(job?.resources.walltimeSeconds, (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0), `${cols[0]} walltime`);
    t.equal(job?.execHosts[0], host, `${cols[0]} host`);
  }
  t.end();
});

void t.test('qstat -f text of the qalter job: same facts, dates instead of epoch seconds', (t) => {
  const text = fixture('qstat-f-running-after-qalter.txt');
  const [xml] = parseQstatXml(fixture('qstat-f-x-running-after-qalter.xml'));
  t.match(text, /^ {4}Variable_List = VE_DESIRED=suspended$/m);
  t.match(text, /^ {4}Job_Name = ve-web1-x$/m);
  t.strictSame(xml?.variables, { VE_DESIRED: 'suspended' });
  // ctime = Mon Nov 23 10:56:55 2026 on a UTC host is the XML's 1795431415
  t.equal(new Date((xml?.submitTime ?? 0) * 1000).toISOString(), '2026-11-23T10:56:55.000Z');
  t.match(text, /^ {4}ctime = Mon Nov 23 10:56:55 2026$/m);
  // the text form wraps long values at commas with a tab: one reason the adapter reads XML only
  t.match(text, /walltime=300,\n\tmem=256mb/);
  t.end();
});

void t.test('pbsnodes -a text agrees with pbsnodes -x', (t) => {
  for (const [textName, xmlName] of [['pbsnodes-a.txt', 'pbsnodes-x.xml'], ['pbsnodes-a-offline.txt', 'pbsnodes-x-offline.xml']] as const) {
    const blocks = fixture(textName).trim().split(/\n\n/);
    const nodes = parsePbsnodesXml(fixture(xmlName));
    t.equal(blocks.length, nodes.length);
    for (const [i, block] of blocks.entries()) {
      const field = (key: string): string | undefined => new RegExp(`^ +${key} = (.*)$`, 'm').exec(block)?.[1];
      const node = nodes[i];
      t.equal(node?.name, block.split('\n')[0], `${textName} name`);
      t.equal(node?.rawState, field('state'));
      t.equal(node?.cpus, Number(field('np')));
      t.strictSame(node?.features, field('properties')?.split(','));
      t.equal(node?.note, field('note'));
      t.strictSame(node?.jobIds, (field('jobs') ?? '').split(',').filter((j) => j !== '').map((j) => j.split('/')[1]));
    }
  }
  t.end();
});

void t.test('qmgr queue defaults show up in Resource_List (vemon: neednodes 1:vemon, 10 min)', (t) => {
  const qmgr = fixture('qmgr-print-server.txt');
  t.match(qmgr, /set queue vemon resources_default.neednodes = 1:vemon/);
  t.match(qmgr, /set queue vemon resources_default.walltime = 00:10:00/);
  for (const job of jobs.filter((j) => j.queue === 'vemon')) {
    t.strictSame(job.resources.features, ['vemon'], job.jobId);
    t.equal(job.resources.walltimeSeconds, 600, job.jobId);
  }
  t.end();
});
