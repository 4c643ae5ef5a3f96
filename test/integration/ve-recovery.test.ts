// Crashed VEs and orphan domains on the real sandbox: a container's domain killed behind pbs-ve
// (`virsh destroy`) is restarted on its host by ve-host-report, then, crash after crash, rolled back to
// its snapshot and finally given up (failed, job ended, one alert); a domain no job claims is reported
// and destroyed only after its grace period. The sandbox has no cron: this test runs ve-host-report on
// both VE hosts every REPORT_EVERY_MS, as cron (or the batch system's node check) would.
// backends: slurm torque
import t from 'tap';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR, VE_NODES, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { sleep, waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { runVeMonitor } from '../harness/run-ve-monitor.js';
import { findRootfsDir } from '../../src/host/ve-disks.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';

const REPORT_EVERY_MS = 2000;
const MAX_RESTARTS = 2;
const ORPHAN_GRACE_S = 10;
const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-recover-', verbose: true,
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
    // the recovery policy on the VE hosts, and a fake alert command (a script that logs) on the vemon node
    const recovery = { maxRestarts: MAX_RESTARTS, windowSeconds: 3600, waitSeconds: 300, orphanGraceSeconds: ORPHAN_GRACE_S };
    for (const host of VE_NODES) {
      const file = join(info.hosts[host]?.configDir ?? '', 'config.json');
      writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), recovery }, null, 2));
    }
    const alertScript = join(dir, 'bin', 'alert.sh');
    writeFileSync(alertScript, `#!/bin/sh\n{ echo "ALERT kind=$PBS_VE_ALERT_KIND key=$PBS_VE_ALERT_KEY"; cat; } >> ${alertLog}\n`);
    chmodSync(alertScript, 0o755);
    // the alert runs as the vemon account (pbsve on TORQUE): the test's log must take its lines
    writeFileSync(alertLog, '', { mode: 0o666 });
    chmodSync(alertLog, 0o666);
    const vemonConfig = JSON.parse(readFileSync(join(info.vemonConfigDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(info.vemonConfigDir, 'config.json'), JSON.stringify({ ...vemonConfig, recovery, alertCommand: [alertScript] }, null, 2));
    reportLoop = runReportLoop();
  },
  beforeStop: async () => {
    reporting = false;
    await reportLoop.catch(() => undefined);
    t.comment(`ve-host-report said:\n${reportLines.join('\n')}`);
    const sorted = [...passMs].sort((a, b) => a - b);
    t.comment(`ve-host-report passes (both hosts, one after the other): ${passMs.length}, median ${sorted[Math.floor(sorted.length / 2)] ?? 0} ms, max ${sorted.at(-1) ?? 0} ms, then a ${REPORT_EVERY_MS} ms pause`);
  },
});
const alertLog = join(dir, 'alerts.log');
let info: SandboxInfo;
let control: BatchControl;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;
const reportLines: string[] = [];
let reporting = true;
let reportLoop: Promise<void> = Promise.resolve();

async function domainState(uri: string, domain: string): Promise<string> {
  return (await runCommand('virsh', ['-c', uri, 'domstate', '--reason', domain], { timeoutMs: 20_000 })).stdout.trim();
}

// the job's state as pbs-ve's Batch port says it: running, completed ... ('' once the batch system forgot it)
async function jobState(jobId: string): Promise<string> {
  return (await control.batch.getJob(jobId))?.state ?? '';
}

interface Shown { ve: { state: string; host: string }; history: { state: string; reason: string; source: string }[] }
async function showVe(name: string): Promise<Shown> {
  return JSON.parse((await runVeAs(info, user, ['show', name, '--json'])).stdout) as Shown;
}

interface OrphanItem { host: string; domain: string; jobId?: string; action: string; stale: boolean; changed: boolean }
// What the vemon node's cron runs: reconcile with the vemon config, its JSON report's orphan section.
async function reconcileOrphans(): Promise<OrphanItem[]> {
  const r = await runVeMonitor(info, ['reconcile', '--json']);
  if (r.exitCode !== 0) throw new Error(`ve-monitor reconcile: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { orphans: OrphanItem[] }).orphans;
}

// What cron runs on every VE host: one ve-host-report per host, one after the other, forever.
async function runReportLoop(): Promise<void> {
  while (reporting) {
    const pass = Date.now();
    for (const host of VE_NODES) {
      const r = await runCommand(process.execPath, [join(PROJECT_DIR, 'dist/src/mom-hooks/report-main.js'), '--host', host], { env: { ...info.env, PBS_VE_CONFIG_DIR: info.hosts[host]?.configDir ?? '' }, timeoutMs: 300_000 });
      for (const line of `${r.stdout}${r.stderr}`.split('\n')) {
        if (line.trim() !== '' && !/0 change\(s\), 0 recovery step\(s\), 0 orphan domain\(s\), 0 event\(s\) sent, 0 pending/.test(line)) reportLines.push(`${new Date().toISOString()} ${line}`);
      }
    }
    passMs.push(Date.now() - pass);
    await sleep(REPORT_EVERY_MS);
  }
}

// Kills the domain as an admin (or a bug, or the OOM killer) would, and times its return.
async function crashAndTime(uri: string, domain: string, wanted: RegExp, what: string): Promise<{ crashedAt: number; ms: number }> {
  const crashedAt = Date.now();
  const r = await runCommand('virsh', ['-c', uri, 'destroy', domain], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`virsh destroy ${domain}: ${r.stderr}`);
  await waitFor(what, 180_000, async () => (wanted.test(await domainState(uri, domain)) ? true : undefined), 200);
  return { crashedAt, ms: Date.now() - crashedAt };
}

// Waits until `ve show` has a history entry matching; returns when, for the crash-to-LDAP time.
async function waitForHistory(name: string, what: string, match: (h: Shown['history'][number]) => boolean): Promise<number> {
  return waitFor(what, 90_000, async () => ((await showVe(name)).history.some(match) ? Date.now() : undefined), 300);
}

// The hook's passes, timed: the recovery latency is one pass period at most, plus the restart itself.
const passMs: number[] = [];

void t.test('LXC: a killed domain is restarted on its host, then rolled back, then given up', async (t) => {
  if (user === undefined) {
    t.plan(0, `skipped: the sandbox user ${DEMO_USER} does not exist`);
    return;
  }
  const created = await runVeAs(info, user, ['create', 'crashy', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.teardown(async () => { await control.batch.cancel(jobId); });
  await waitForLdapState(info, user, 'crashy', 'running', 90_000);
  const host = (await showVe('crashy')).ve.host;
  const uri = info.nodes[host]?.lxcUri ?? '';
  const domain = `pbsve-${jobId}`;
  const marker = join(findRootfsDir(join(info.hosts[host]?.stateDir ?? '', 'jobs', jobId)), 'marker.txt');
  writeFileSync(marker, 'snapshot s1\n');
  const snap = await runVeAs(info, user, ['snapshot', 'crashy', '--name', 's1']);
  t.equal(snap.exitCode, 0, snap.stderr);
  writeFileSync(marker, 'after s1\n');

  // (a) restarts, same host, same job
  for (let attempt = 1; attempt <= MAX_RESTARTS; attempt++) {
    const { crashedAt, ms } = await crashAndTime(uri, domain, /^running/, `restart ${attempt}`);
    t.comment(`LXC crash ${attempt} (virsh destroy) -> domain running again on ${host}: ${ms} ms`);
    const inLdap = await waitForHistory('crashy', `LDAP history of restart ${attempt}`, (h) => h.source === 'recovery' && h.reason.startsWith(`restarted ${attempt}/${MAX_RESTARTS} after a crash`));
    t.comment(`  ... "restarted ${attempt}/${MAX_RESTARTS}" in LDAP ${inLdap - crashedAt} ms after the crash`);
    t.equal(await jobState(jobId), 'running', `the VE job lives on after crash ${attempt}`);
    t.equal((await showVe('crashy')).ve.host, host, 'same host');
  }
  const history = (await showVe('crashy')).history;
  t.ok(history.some((h) => h.state === 'stopped' && h.source === 'mom-hook' && /crashed: domain shutoff \(destroyed\) behind pbs-ve/.test(h.reason)), 'LDAP history: the crash');
  t.equal(readFileSync(marker, 'utf8'), 'after s1\n', 'a restart keeps the rootfs as it was');
  const console1 = await runVeAs(info, user, ['console', 'crashy', '--lines', '400']);
  t.ok((console1.stdout.match(/CT-MARKER: container init/g) ?? []).length >= 2, 'the console log goes on after the restarts');

  // (b) past the limit: rollback to s1, then failed
  const rollback = await crashAndTime(uri, domain, /^running/, 'rollback');
  t.comment(`LXC crash ${MAX_RESTARTS + 1} -> rolled back to s1 and running: ${rollback.ms} ms`);
  const rolledInLdap = await waitForHistory('crashy', 'LDAP history of the rollback', (h) => h.source === 'recovery' && /rolled back to snapshot s1/.test(h.reason));
  t.comment(`  ... in LDAP ${rolledInLdap - rollback.crashedAt} ms after the crash`);
  t.equal(readFileSync(marker, 'utf8'), 'snapshot s1\n', 'the rootfs is the snapshot again');
  await sleep(3000);
  t.equal(await jobState(jobId), 'running', 'the job lives on after the rollback');

  const gaveUp = Date.now();
  await runCommand('virsh', ['-c', uri, 'destroy', domain], { timeoutMs: 30_000 });
  await waitFor('the job to end', 120_000, async () => (['', 'completed'].includes(await jobState(jobId)) ? true : undefined), 300);
  t.comment(`crash ${MAX_RESTARTS + 2} -> given up, job ended: ${Date.now() - gaveUp} ms`);
  await waitForLdapState(info, user, 'crashy', 'failed', 60_000);
  t.comment(`  ... failed in LDAP: ${Date.now() - gaveUp} ms`);
  const final = await showVe('crashy');
  t.equal(final.ve.state, 'failed', 'the VE ends failed, not destroyed');
  t.ok(final.history.some((h) => h.state === 'failed' && h.source === 'recovery' && /recovery gave up: crashed again after the rollback/.test(h.reason)), 'LDAP history says why');
  await waitFor('the domain to be gone', 60_000, async () => ((await domainState(uri, domain)) === '' ? true : undefined), 500);
  await waitFor('the alert', 60_000, () => (existsSync(alertLog) ? true : undefined), 500);
  await sleep(3 * REPORT_EVERY_MS);
  const alerts = readFileSync(alertLog, 'utf8');
  t.equal((alerts.match(new RegExp(`ALERT kind=ve-failed key=${jobId}\\n`, 'g')) ?? []).length, 1, 'one alert for the failed VE');
  t.match(alerts, new RegExp(`VE crashy \\(job ${jobId}, owner ${user}, lxc\\) failed on ${host}`));
  t.comment(`alert text: ${alerts.trim().split('\n').slice(-1)[0] ?? ''}`);
});

void t.test('QEMU: a killed domain is restarted on its host and the job lives on', async (t) => {
  if (user === undefined || !info.images.includes('tinyvm')) {
    t.plan(0, `skipped: ${user === undefined ? `no user ${DEMO_USER}` : `no QEMU image (${info.imageProblem ?? '?'})`}`);
    return;
  }
  const created = await runVeAs(info, user, ['create', 'vm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  t.teardown(async () => { await control.batch.cancel(jobId); });
  await waitForLdapState(info, user, 'vm1', 'running', 180_000);
  const host = (await showVe('vm1')).ve.host;
  const uri = info.nodes[host]?.qemuUri ?? '';
  const { crashedAt, ms } = await crashAndTime(uri, `pbsve-${jobId}`, /^running/, 'QEMU restart');
  t.comment(`QEMU (TCG) crash (virsh destroy) -> domain running again on ${host}: ${ms} ms`);
  const inLdap = await waitForHistory('vm1', 'LDAP history of the QEMU restart', (h) => h.source === 'recovery' && h.reason.startsWith(`restarted 1/${MAX_RESTARTS} after a crash`));
  t.comment(`  ... in LDAP ${inLdap - crashedAt} ms after the crash`);
  await sleep(5000);
  const state = await jobState(jobId);
  t.equal(state, 'running', 'the VE job lives on');
  if (state !== 'running') {
    for (const f of readdirSync(join(dir, 'work')).filter((n) => n.includes(jobId))) t.comment(`${f}:\n${readFileSync(join(dir, 'work', f), 'utf8')}`);
  }
  t.equal((await showVe('vm1')).ve.state, 'running');
});

void t.test('an orphan domain is reported, then destroyed after its grace period', async (t) => {
  const host = 'node1';
  const uri = info.nodes[host]?.lxcUri ?? '';
  const domain = 'pbsve-999999';
  const xml = `<domain type='lxc'><name>${domain}</name><memory unit='MiB'>32</memory><os><type>exe</type><init>/bin/true</init></os>`
    + `<devices><filesystem type='mount'><source dir='${join(dir, 'work')}'/><target dir='/'/></filesystem></devices></domain>`;
  const xmlFile = join(dir, 'orphan.xml');
  writeFileSync(xmlFile, xml);
  const defined = await runCommand('virsh', ['-c', uri, 'define', xmlFile], { timeoutMs: 30_000 });
  t.equal(defined.exitCode, 0, defined.stderr);
  const at = Date.now();
  const reported = await waitFor('the orphan report', 60_000, () => reportLines.find((l) => l.includes(`orphan ${domain}`) && l.includes('reported')), 300);
  t.match(reported, /job 999999 unknown to the batch system; destroyed after 10 s if still unclaimed/);
  t.comment(`orphan reported ${Date.now() - at} ms after it was defined: ${reported}`);
  t.equal((await runCommand('virsh', ['-c', uri, 'domstate', domain], { timeoutMs: 20_000 })).exitCode, 0, 'still there inside its grace period');
  // the host's signed report reaches LDAP through a vemon job; reconcile (as the vemon node's cron runs it) lists it
  const listed = await waitFor('reconcile to list the orphan', 90_000, async () => {
    const items = await reconcileOrphans();
    return items.find((o) => o.domain === domain && o.host === host);
  }, 500);
  t.comment(`reconcile listed the orphan ${Date.now() - at} ms after it was defined: ${JSON.stringify(listed)}`);
  t.match(listed, { host, domain, jobId: '999999', stale: false, changed: false });
  t.ok(listed.action === 'host-destroys' || listed.action === 'destroyed', `action ${listed.action}`);
  await waitFor('the orphan to be destroyed', 120_000, async () => ((await runCommand('virsh', ['-c', uri, 'domstate', domain], { timeoutMs: 20_000 })).exitCode !== 0 ? true : undefined), 500);
  const gone = Date.now() - at;
  t.ok(gone >= ORPHAN_GRACE_S * 1000, `destroyed no earlier than the grace (${gone} ms)`);
  t.ok(reportLines.some((l) => l.includes(`orphan ${domain}`) && l.includes('destroyed')), 'the report says it destroyed it');
  t.comment(`orphan undefined ${gone} ms after it was defined (grace ${ORPHAN_GRACE_S} s, reports every ${REPORT_EVERY_MS} ms)`);
  await waitFor('reconcile to stop listing the destroyed orphan', 90_000, async () => ((await reconcileOrphans()).some((o) => o.domain === domain) ? undefined : true), 500);
  t.comment(`the orphan left reconcile's report ${Date.now() - at} ms after it was defined`);
});
