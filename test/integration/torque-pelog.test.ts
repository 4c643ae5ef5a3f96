// The installed mom_priv scripts executed the way TORQUE 6.1 runs them (env -i PATH=/bin:/usr/bin, argv as in
// test/fixtures/torque/pelog/*.txt) against a real private libvirtd and a real slapd. TORQUE is not packaged
// for Debian, so its clients (qstat, qsub, pbsnodes) are small recorders that answer in TORQUE's own format
// (qstat -f -x XML shaped like the real fixtures); everything of pbs-ve's own is real.
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { waitFor } from '../harness/wait-for.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/core/run-command.js';
import { encodeVeSpec } from '../../src/core/encode-ve-spec.js';
import { installMom } from '../../src/admin/install-mom.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { startLibvirt, makeLxcImage, type LibvirtInstance } from '../harness/libvirt.js';
import { startSlapd, type SlapdInstance } from '../harness/slapd.js';
import { ensureHostKey } from '../../src/events/host-key.js';
import { hostname } from 'node:os';

const PROJECT = resolve(fileURLToPath(import.meta.url), '../../../..');
const USER = 'pbsve-user1';
const root = mkdtempSync('/tmp/pbsve-torque-');
const stub = join(root, 'torque-bin');
let lib: LibvirtInstance;
let ldap: SlapdInstance;

// qstat -f -x <id> answers from jobs/<id>.xml (without an id: all of them); qsub keeps the script and prints a job id; pbsnodes records.
function writeTorqueStubs(): void {
  for (const d of ['jobs', 'submitted', 'calls']) mkdirSync(join(stub, d), { recursive: true, mode: 0o1777 });
  chmodSync(join(stub, 'submitted'), 0o1777);
  chmodSync(join(stub, 'calls'), 0o1777);
  const files: Record<string, string> = {
    // qstat -f -x without an id lists every job: the vemon side checks event claims against it (fail closed)
    qstat: `#!/bin/sh\nid="$3"\nif [ -z "$id" ]; then\n  echo '<?xml version="1.0"?>'; printf '<Data>'\n  for f in ${stub}/jobs/*.xml; do [ -f "$f" ] && sed -n 's/.*<Data>\\(.*\\)<\\/Data>.*/\\1/p' "$f" | tr -d '\\n'; done\n  echo '</Data>'; exit 0\nfi\n[ -f ${stub}/jobs/"$id".xml ] && { cat ${stub}/jobs/"$id".xml; exit 0; }\necho "qstat: Unknown Job Id Error $id" >&2\nexit 153\n`,
    qsub: `#!/bin/sh\n[ "$(id -u)" = 0 ] && { echo "qsub can not be run as root" >&2; exit 1; }\nn=$(ls ${stub}/submitted | wc -l)\ncat > ${stub}/submitted/$n.sh\necho "$((n + 100)).vm"\n`,
    pbsnodes: `#!/bin/sh\necho "$*" >> ${stub}/calls/pbsnodes\n`,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(stub, name), body, { mode: 0o755 });
}

// The job as qstat -f -x shows it (shape of test/fixtures/torque/qstat-f-x-running.xml).
function writeJobXml(jobId: string, startCount: number, multi?: { execHost: string; nodes: string; mem: string; specToken: string }): void {
  const xml = `<?xml version="1.0"?>\n<Data><Job><Job_Id>${jobId}</Job_Id><Job_Name>ve-web1</Job_Name><Job_Owner>${USER}@vm</Job_Owner><job_state>R</job_state><queue>batch</queue><server>vm</server><exec_host>${multi?.execHost ?? 'vm/0'}</exec_host><Resource_List><nodes>${multi?.nodes ?? '1:ppn=1:lxc'}</nodes><walltime>02:00:00</walltime><mem>${multi?.mem ?? '256mb'}</mem><nodect>1</nodect><neednodes>${multi?.nodes ?? '1:ppn=1:lxc'}</neednodes></Resource_List><session_id>4242</session_id><Variable_List>PBS_O_QUEUE=batch,PBS_O_LOGNAME=${USER}${multi === undefined ? '' : `,VE_SPEC=${multi.specToken}`}</Variable_List><euser>${USER}</euser><egroup>${USER}</egroup><start_count>${startCount}</start_count><start_time>1795431435</start_time><qtime>1795431435</qtime></Job></Data>\n`;
  writeFileSync(join(stub, 'jobs', `${jobId}.xml`), xml);
}

interface Site { configDir: string; pbsHome: string; stateDir: string }

async function makeSite(name: string, lxcUri: string): Promise<Site> {
  const configDir = join(root, name, 'etc');
  const pbsHome = join(root, name, 'torque');
  const stateDir = join(root, name, 'state');
  for (const d of [configDir, join(pbsHome, 'mom_priv', 'jobs'), join(stateDir, 'log')]) mkdirSync(d, { recursive: true });
  const roUri = lxcUri.replace('libvirt-sock', 'libvirt-sock-ro');
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({
    batch: { kind: 'torque', binDir: stub, veQueue: 'batch', vemonQueue: 'vemon', eventSubmitUser: USER, maxStarts: 3, slotsPerCpu: 1 },
    ldap: { url: ldap.url, baseDn: ldap.baseDn },
    ldapWriteCredentialsFile: join(configDir, 'ldap-write.json'),
    virt: { hosts: { default: { lxcUri, qemuUri: lxcUri.replace('lxc:', 'qemu:'), roLxcUri: roUri, roQemuUri: roUri } }, startTimeoutMs: 30000 },
    imageDir: join(root, 'images'), stateDir, nodePath: process.execPath, installDir: PROJECT, minMemoryMiB: 16,
  }));
  writeFileSync(join(configDir, 'ldap-write.json'), JSON.stringify({ bindDn: ldap.writerDn, password: ldap.writerPassword }), { mode: 0o600 });
  // the mom signs its events with its own key; this test's vemon side (runSubmittedEventJobs) holds it too
  ensureHostKey(configDir, hostname().split('.')[0] ?? hostname());
  await installMom({ pbsHome, dryRun: false, nodePath: process.execPath, installDir: PROJECT, configDir, veQueue: 'batch' });
  return { configDir, pbsHome, stateDir };
}

function writeJobScript(site: Site, jobId: string, specLine: string | undefined): string {
  const file = join(site.pbsHome, 'mom_priv', 'jobs', `${jobId}15003.SC`);
  writeFileSync(file, `#!/bin/sh\n${specLine === undefined ? '' : `${specLine}\n`}sleep 100\n`);
  return file;
}

// argv exactly as a TORQUE 6.1 mom passes it (fixtures pelog/prologue.15.vm.txt, epilogue.15.vm.txt)
function runPelog(site: Site, kind: 'prologue' | 'epilogue' | 'prologue.parallel' | 'epilogue.parallel', jobId: string, script: string, queue = 'batch', exit = '0',
  resources = 'nodes=1:ppn=1:lxc,walltime=02:00:00,mem=256mb') {
  const argv = kind.startsWith('prologue')
    ? [jobId, USER, USER, 've-web1', resources, queue, '', script]
    : [jobId, USER, USER, 've-web1', '4242', resources, 'cput=00:00:00,mem=6788kb,walltime=00:00:25', queue, '', exit, script];
  // umask 077: what the live TORQUE 6.1 MOM gives its pelog scripts (issue 9, defect 1)
  return runCommand('env', ['-i', 'PATH=/bin:/usr/bin', `PBS_JOBID=${jobId}`, 'sh', '-c', 'umask 077; exec "$0" "$@"', join(site.pbsHome, 'mom_priv', kind), ...argv], { timeoutMs: 300_000 });
}

// The event jobs the hooks submitted run on the vemon node: here, run their scripts as TORQUE would.
async function runSubmittedEventJobs(): Promise<string> {
  let out = '';
  const done = join(stub, 'submitted', '.done');
  mkdirSync(done, { recursive: true });
  for (const f of readdirSync(join(stub, 'submitted')).filter((n) => n.endsWith('.sh')).sort()) {
    const r = await runCommand('sh', [join(stub, 'submitted', f)], { timeoutMs: 60_000 });
    out += r.stdout + r.stderr;
    await runCommand('mv', [join(stub, 'submitted', f), done], {});
  }
  return out;
}

t.before(async () => {
  chmodSync(root, 0o755); // the service account runs the qsub recorder from here
  writeTorqueStubs();
  lib = await startLibvirt({ nodes: ['vm'] });
  ldap = await startSlapd();
  await makeLxcImage(join(root, 'images', 'tiny.rootfs'));
  writeFileSync(join(root, 'images', 'tiny.json'), JSON.stringify({ name: 'tiny', type: 'lxc', format: 'dir', path: 'tiny.rootfs', init: ['/bin/sh', '/init.sh'] }));
  if ((await runCommand('id', ['-u', USER], {})).exitCode !== 0) await runCommand('useradd', ['-m', USER], {});
});
t.teardown(async () => {
  await lib.stop();
  await ldap.stop();
  await runCommand('rm', ['-rf', '--one-file-system', root], { timeoutMs: 60_000 });
});

void t.test('a VE job is realized by the installed prologue and torn down by the epilogue', async (t) => {
  const site = await makeSite('good', lib.nodes['vm']?.lxcUri ?? '');
  const spec = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 7200 };
  writeJobXml('15.vm', 1);
  const script = writeJobScript(site, '15.vm', `# pbs-ve spec ${encodeVeSpec(spec)}`);
  const pro = await runPelog(site, 'prologue', '15.vm', script);
  t.equal(pro.exitCode, 0, pro.stderr);
  const state = await runCommand('virsh', ['-c', lib.nodes['vm']?.lxcUri ?? '', 'domstate', 'pbsve-15.vm'], {});
  t.equal(state.stdout.trim(), 'running', 'domain running after the prologue');
  // the job body runs as the owner: under TORQUE's umask 077 it could not read this record (issue 9, defect 1)
  const asOwner = await runCommand('runuser', ['-u', USER, '--', 'cat', join(site.stateDir, 'jobs', '15.vm', 've.json')], { timeoutMs: 20_000 });
  t.equal(asOwner.exitCode, 0, `the owner reads the VE record: ${asOwner.stderr}`);
  t.match(asOwner.stdout, /"status": "realized"/);
  t.match(await runSubmittedEventJobs(), /applied 1/, 'the event job (submitted as the service account) applies');
  const inv = createLdapInventory({ url: ldap.url, baseDn: ldap.baseDn });
  t.teardown(() => inv.close());
  t.equal((await inv.getVe('15.vm'))?.state, 'running');

  const epi = await runPelog(site, 'epilogue', '15.vm', script, 'batch', '271');
  t.equal(epi.exitCode, 0, epi.stderr);
  const gone = await runCommand('virsh', ['-c', lib.nodes['vm']?.lxcUri ?? '', 'domstate', 'pbsve-15.vm'], {});
  t.not(gone.exitCode, 0, 'domain undefined after the epilogue');
  await runSubmittedEventJobs();
  const ve = await inv.getVe('15.vm');
  t.equal(ve?.state, 'destroyed');
  t.equal((await inv.listHistory('15.vm')).at(-1)?.reason, 'job deleted (qdel/scancel) by its owner or an admin', 'qdel exit status 271 recognised');
});

void t.test('a job that is not a VE job passes through the installed prologue fast', async (t) => {
  const site = await makeSite('plain', lib.nodes['vm']?.lxcUri ?? '');
  const script = writeJobScript(site, '16.vm', undefined);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    const r = await runPelog(site, 'prologue', '16.vm', script);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    t.equal(r.exitCode, 0);
  }
  const other: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    await runPelog(site, 'prologue', '17.vm', script, 'express');
    other.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.comment(`non-VE job in the VE queue: best ${Math.min(...times).toFixed(1)} ms; other queue: best ${Math.min(...other).toFixed(1)} ms`);
  // measured, not asserted: on the shared 2-core machine the best of 10 took 223 ms at load 15 (house rule: no timing thresholds)
});

void t.test('a hostile or oversized spec is refused with exit 1 and nothing is created', async (t) => {
  const site = await makeSite('hostile', lib.nodes['vm']?.lxcUri ?? '');
  writeJobXml('18.vm', 1);
  const greedy = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 2, memoryMiB: 4096, leaseSeconds: 7200 };
  const forged = `v1.${Buffer.from(JSON.stringify({ name: "x'/><devices><disk>", type: 'lxc', image: '../../../etc', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 })).toString('base64url')}`;
  for (const line of [`# pbs-ve spec ${encodeVeSpec(greedy)}`, `# pbs-ve spec ${forged}`, '# pbs-ve spec $(reboot)']) {
    const script = writeJobScript(site, '18.vm', line);
    const r = await runPelog(site, 'prologue', '18.vm', script);
    t.equal(r.exitCode, 1, `exit 1 (abort, no retry) for ${line.slice(0, 40)}`);
    t.match(r.stderr, /pbs-ve: error /);
  }
  const list = await runCommand('virsh', ['-c', lib.nodes['vm']?.lxcUri ?? '', 'list', '--all', '--name'], {});
  t.notMatch(list.stdout, /pbsve-18/, 'no domain defined');
});

void t.test('host faults requeue (exit 2) until the job met three of them, then abort and take the node offline', async (t) => {
  const site = await makeSite('fault', 'lxc:///system?socket=/nonexistent/libvirt-sock');
  const spec = { version: 1 as const, name: 'web2', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 };
  const script = writeJobScript(site, '19.vm', `# pbs-ve spec ${encodeVeSpec(spec)}`);
  // TORQUE's start_count also rises with qrerun and failed sends (9 seen live): it must not count (issue 9, defect 10)
  writeJobXml('19.vm', 9);
  for (const n of [1, 2]) t.equal((await runPelog(site, 'prologue', '19.vm', script)).exitCode, 2, `host fault ${n}: requeued`);
  t.notOk(existsSync(join(stub, 'calls', 'pbsnodes')), 'no node taken offline yet');
  const last = await runPelog(site, 'prologue', '19.vm', script);
  t.equal(last.exitCode, 1, 'aborted at the third host fault of the job');
  t.match(last.stderr, /host-fault-retries-exhausted/);
  t.match(readFileSync(join(stub, 'calls', 'pbsnodes'), 'utf8'), /^-o -N pbs-ve: [a-z-]+ on \S+ \(job 19\.vm\): /m, 'node taken offline with a note');
  await runSubmittedEventJobs();
  const inv = createLdapInventory({ url: ldap.url, baseDn: ldap.baseDn });
  t.teardown(() => inv.close());
  const history = await inv.listHistory('19.vm');
  t.same(history.map((h) => h.state), ['starting', 'starting', 'failed'], 'each fault is in the history; the last one failed');
  t.match(history[0]?.reason, /host fault on \S+, the job goes back to the queue/);
  t.equal((await inv.getVe('19.vm'))?.state, 'failed');
});

// Issue 9, defect 8: ve show said the VE never existed.
void t.test('a prologue that fails before it creates anything leaves failed and the reason in LDAP', async (t) => {
  const site = await makeSite('early', lib.nodes['vm']?.lxcUri ?? '');
  const spec = { version: 1 as const, name: 'web3', type: 'lxc' as const, image: 'nosuch', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 };
  writeJobXml('23.vm', 1);
  const r = await runPelog(site, 'prologue', '23.vm', writeJobScript(site, '23.vm', `# pbs-ve spec ${encodeVeSpec(spec)}`));
  t.equal(r.exitCode, 1, 'aborted: the image is not in the catalog');
  t.match(await runSubmittedEventJobs(), /applied 1/);
  const inv = createLdapInventory({ url: ldap.url, baseDn: ldap.baseDn });
  t.teardown(() => inv.close());
  const ve = await inv.getVe('23.vm');
  t.equal(ve?.state, 'failed');
  t.equal(ve?.name, 'web3');
  t.match((await inv.listHistory('23.vm')).at(-1)?.reason, /image: "nosuch" is not in the catalog/);
});

// Issue 9, defect 7: TORQUE runs the epilogue of a job deleted during its prologue concurrently with it.
void t.test('qdel while the prologue runs: the VE ends destroyed, never failed, and no domain is left', async (t) => {
  const site = await makeSite('race', lib.nodes['vm']?.lxcUri ?? '');
  const uri = lib.nodes['vm']?.lxcUri ?? '';
  const spec = { version: 1 as const, name: 'web4', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 };
  writeJobXml('22.vm', 1);
  const script = writeJobScript(site, '22.vm', `# pbs-ve spec ${encodeVeSpec(spec)}`);
  const record = join(site.stateDir, 'jobs', '22.vm', 've.json');
  const prologue = runPelog(site, 'prologue', '22.vm', script);
  // the qdel comes while the prologue is realizing the VE (its record says starting)
  await waitFor('the prologue to begin the VE', 120_000, () => (existsSync(record) && readFileSync(record, 'utf8').includes('"starting"') ? true : undefined), 5);
  const epilogue = await runPelog(site, 'epilogue', '22.vm', script, 'batch', '271');
  const pro = await prologue;
  t.equal(epilogue.exitCode, 0, epilogue.stderr);
  t.comment(`prologue exit ${pro.exitCode}; epilogue: ${epilogue.stderr.trim().split('\n').at(-1) ?? ''}`);
  t.notMatch((await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], {})).stdout, /pbsve-22\.vm/, 'no domain left');
  await runSubmittedEventJobs();
  const inv = createLdapInventory({ url: ldap.url, baseDn: ldap.baseDn });
  t.teardown(() => inv.close());
  t.equal((await inv.getVe('22.vm'))?.state, 'destroyed');
  t.notOk((await inv.listHistory('22.vm')).some((h) => h.state === 'failed'), 'a cancellation is no failure (no ve-failed alert)');
});

void t.test('prologue.parallel on a sister realizes part 1 of a two-node VE; epilogue.parallel removes it', async (t) => {
  const site = await makeSite('sister', lib.nodes['vm']?.lxcUri ?? '');
  const me = hostname().split('.')[0] ?? hostname();
  const spec = { version: 1 as const, name: 'pair1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 7200, nodes: 2 };
  // qsub -l nodes=2:ppn=1:lxc,mem=128mb (mem is the job's total in TORQUE: 2 x 64); the mother superior is another host
  writeJobXml('21.vm', 1, { execHost: `othermom/0+${me}/0`, nodes: '2:ppn=1:lxc', mem: '128mb', specToken: encodeVeSpec(spec) });
  // a sister has no job script: the path TORQUE would pass points nowhere on this host
  const missing = join(site.pbsHome, 'mom_priv', 'jobs', '21.vm15003.SC');
  const resources = 'nodes=2:ppn=1:lxc,walltime=02:00:00,mem=128mb';
  const pro = await runPelog(site, 'prologue.parallel', '21.vm', missing, 'batch', '0', resources);
  t.equal(pro.exitCode, 0, pro.stderr);
  const uri = lib.nodes['vm']?.lxcUri ?? '';
  t.equal((await runCommand('virsh', ['-c', uri, 'domstate', 'pbsve-21.vm_p1'], {})).stdout.trim(), 'running', 'part 1 is this host\'s');
  t.notMatch((await runCommand('virsh', ['-c', uri, 'list', '--all', '--name'], {})).stdout, /^pbsve-21\.vm$/m, 'part 0 is the mother superior\'s business');
  t.match(await runSubmittedEventJobs(), /applied 1/);
  const inv = createLdapInventory({ url: ldap.url, baseDn: ldap.baseDn });
  t.teardown(() => inv.close());
  t.same((await inv.listParts?.('21.vm'))?.map((p) => [p.part, p.state, p.host]), [[1, 'running', me]]);
  t.equal((await inv.getVe('21.vm'))?.state, 'starting', 'the VE runs only when part 0 runs too');

  const epi = await runPelog(site, 'epilogue.parallel', '21.vm', missing, 'batch', '271', resources);
  t.equal(epi.exitCode, 0, epi.stderr);
  t.not((await runCommand('virsh', ['-c', uri, 'domstate', 'pbsve-21.vm_p1'], {})).exitCode, 0, 'part 1 undefined');
  await runSubmittedEventJobs();
  t.same((await inv.listParts?.('21.vm'))?.map((p) => [p.part, p.state]), [[1, 'destroyed']]);
});
