// A host whose /dev/kvm cannot run guests (a software backend without VT-x: "failed to set MSR 0x10a")
// while the probe says it can: the kvm VE still comes up, under TCG, no node is drained, and the host
// remembers TCG for the next VE. The probe is forced to say "kvm" by its per-host answer in the state dir.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { findKvmProbeFile, probeKvm } from '../../src/host/resolve-qemu-acceleration.js';
import type { VeJobRecord } from '../../src/host/ve-job-record.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { findJobDir } from '../harness/sandbox-host-files.js';
import { skipWithoutQemuImage } from '../harness/skip-without-qemu-image.js';

useSandbox(t, {
  prefix: '/tmp/pbsve-kvmfb-', verbose: true,
  ready: (started) => {
    info = started;
  },
});
let info: SandboxInfo;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;
// each simulated host keeps its own probe answer and job records in its own state directory
const stateDir = (host: string): string => info.hosts[host]?.stateDir ?? '';

function readRecord(jobId: string): VeJobRecord {
  return JSON.parse(readFileSync(join(findJobDir(info, jobId), 've.json'), 'utf8')) as VeJobRecord;
}

// What the probe remembered for a host, as the prologue reads it (same boot, fresh).
function forceProbe(host: string, usable: boolean, detail: string): void {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  writeFileSync(findKvmProbeFile(stateDir(host), host), `${JSON.stringify({ usable, detail, bootId, at: new Date().toISOString() })}\n`);
}

function readProbe(host: string): { usable: boolean; detail: string } {
  return JSON.parse(readFileSync(findKvmProbeFile(stateDir(host), host), 'utf8')) as { usable: boolean; detail: string };
}

async function domainXml(host: string, domain: string): Promise<string> {
  return (await runCommand('virsh', ['-c', info.nodes[host]?.qemuUri ?? '', 'dumpxml', domain], { timeoutMs: 20_000 })).stdout;
}

void t.test('the probe is forced to say kvm; the kvm VE comes up anyway, without draining its node', async (t) => {
  if (skipWithoutQemuImage(t, info)) return;
  // the truth about this machine, asked the way the prologue's probe asks (uncached)
  const real = await probeKvm();
  t.comment(`this machine's KVM, probed with the VE's machine and CPU: ${real.usable ? 'usable' : 'not usable'} (${real.detail})`);
  for (const host of ['node1', 'node2']) forceProbe(host, true, 'forced by kvm-fallback.test');

  const created = await runVeAs(info, user, ['create', 'kvm1', '--type', 'kvm', '--image', 'tinyvm', '--memory', '128', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  const jobId = created.stdout.trim();
  await waitForLdapState(info, user, 'kvm1', 'running', 180_000);
  const record = readRecord(jobId);
  const host = record.host;
  const xml = await domainXml(host, `pbsve-${jobId}`);
  const details = JSON.parse((await runVeAs(info, user, ['show', 'kvm1', '--json'])).stdout) as { history: { state: string; reason: string }[] };
  t.same(details.history.map((h) => h.state), ['running'], 'running at the first start: no failed start, no requeue');
  if (real.usable) {
    t.comment('KVM really works here: no fallback to show, the VE runs with hardware acceleration');
    t.match(xml, /<domain type='kvm'/);
    t.equal(record.emulated, false);
  } else {
    t.match(xml, /<domain type='qemu'/, 'the domain runs under TCG');
    t.equal(record.emulated, true, 'the record says emulated');
    t.match(record.reason, /emulated by QEMU TCG: KVM failed to start this VE \(.+\)/, `and why (${record.reason})`);
    t.match(details.history[0]?.reason ?? '', /KVM failed to start this VE/, 'so does the running event in LDAP');
    const remembered = readProbe(host);
    t.equal(remembered.usable, false, `${host} remembers that its KVM cannot run VEs`);
    t.match(remembered.detail, /a VE failed to start under KVM: /, remembered.detail);
  }
  const sinfo = await runCommand('sinfo', ['-h', '-N', '-o', '%N %T'], { env: info.env });
  t.notMatch(sinfo.stdout, /drain|down/, `no node drained or down (${sinfo.stdout.trim().replace(/\n/g, ', ')})`);

  // a second VE on the same host: it goes straight to TCG (or, placed on the other host, falls back there once)
  const second = await runVeAs(info, user, ['create', 'kvm2', '--type', 'kvm', '--image', 'tinyvm', '--memory', '96', '--lease', '1h']);
  t.equal(second.exitCode, 0, second.stderr);
  const jobId2 = second.stdout.trim();
  await waitForLdapState(info, user, 'kvm2', 'running', 180_000);
  const record2 = readRecord(jobId2);
  if (!real.usable) {
    t.equal(record2.emulated, true);
    const expected = record2.host === host ? /emulated by QEMU TCG: a VE failed to start under KVM: / : /emulated by QEMU TCG: KVM failed to start this VE/;
    t.match(record2.reason, expected, `on ${record2.host}: ${record2.reason}`);
  }
  for (const name of ['kvm1', 'kvm2']) {
    const d = await runVeAs(info, user, ['destroy', name, '--wait', '90s']);
    t.equal(d.exitCode, 0, d.stderr);
  }
  const after = await runCommand('sinfo', ['-h', '-N', '-o', '%N %T'], { env: info.env });
  t.notMatch(after.stdout, /drain|down/, 'still no node drained');
});
