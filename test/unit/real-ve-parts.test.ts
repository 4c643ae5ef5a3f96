// The pure parts behind real VEs: domain type and data disks in the domain spec, the KVM decision,
// the LXC console pty, the console tail.
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildVeDomainSpec } from '../../src/prologue/build-ve-domain-spec.js';
import { buildDomainXml } from '../../src/virt/build-domain-xml.js';
import { findKvmProbeFile, KVM_PROBE_MAX_AGE_MS, probeKvm, probeKvmCached, recordKvmUnusable, resolveQemuAcceleration } from '../../src/host/resolve-qemu-acceleration.js';
import { decideKvmFallback, describeKvmFailure } from '../../src/core/decide-kvm-fallback.js';
import { findConsolePty } from '../../src/host/ve-console.js';
import { parseLineCount, readLastLines } from '../../src/qsub-wrappers/follow-ve-console.js';
import { VeError } from '../../src/core/ve-error.js';
import type { ImageManifest } from '../../src/images/image-manifest.js';
import type { RunCommand } from '../../src/core/run-command.js';

const image: ImageManifest = { name: 'tinyvm', type: 'kvm', format: 'qcow2', path: '/img/tinyvm/base.qcow2', init: ['/sbin/init'], kernel: '/img/tinyvm/vmlinuz', initrd: '/img/tinyvm/initrd', cmdline: 'console=ttyS0', os: undefined };
const spec = { version: 1 as const, name: 'vm1', type: 'kvm' as const, image: 'tinyvm', vcpus: 1, memoryMiB: 128, leaseSeconds: 600, disks: [64, 1024] };

void t.test('a kvm VE: overlay vda, data disks vdb/vdc, the resolved domain type, console.log in the job dir', (t) => {
  const disk = { rootfsDir: undefined, diskPath: '/state/jobs/7/disk.qcow2', dataDisks: ['/state/jobs/7/data-1.qcow2', '/state/jobs/7/data-2.qcow2'] };
  const input = { spec, image, disk, domain: 'pbsve-7', jobId: '7', owner: 'u1', jobDir: '/state/jobs/7' };
  const tcg = buildVeDomainSpec({ ...input, domainType: 'qemu' });
  t.equal(tcg.type, 'qemu');
  t.same(tcg.type !== 'lxc' && tcg.qemu.disks.map((d) => [d.targetDev, d.path]), [
    ['vda', '/state/jobs/7/disk.qcow2'], ['vdb', '/state/jobs/7/data-1.qcow2'], ['vdc', '/state/jobs/7/data-2.qcow2'],
  ]);
  t.equal(buildVeDomainSpec({ ...input, domainType: 'kvm' }).type, 'kvm');
  const xml = buildDomainXml(tcg);
  t.match(xml, /<seclabel model="dac" relabel="no"\/>/, 'libvirt leaves the console log alone');
  t.match(xml, /<source path="\/state\/jobs\/7\/console.log" append="on">/);
  t.end();
});

void t.test('KVM: the admin setting wins, auto asks the probe, TCG says why', async (t) => {
  const dir = makeTempDir('/tmp/pbsve-unit-kvm-');
  const never = (): Promise<never> => Promise.reject(new Error('must not probe'));
  t.same(await resolveQemuAcceleration('tcg', dir, never), { domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG (config virt.kvmAcceleration=tcg)' });
  t.equal((await resolveQemuAcceleration('kvm', dir, never)).domainType, 'kvm');
  const auto = await resolveQemuAcceleration('auto', dir, () => Promise.resolve({ usable: false, detail: 'no luck' }));
  t.same(auto, { domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG: no luck' });
  // cached per boot: a second call does not probe again
  t.equal((await resolveQemuAcceleration('auto', dir, never)).emulated, true);
});

void t.test('the KVM probe: exit 0 is usable, a hang or an error is not', async (t) => {
  const devKvm = join(makeTempDir('/tmp/pbsve-unit-kvm-'), 'kvm');
  writeFileSync(devKvm, '');
  const answer = (r: Awaited<ReturnType<RunCommand>> | Error): RunCommand => () => (r instanceof Error ? Promise.reject(r) : Promise.resolve(r));
  t.equal((await probeKvm(answer({ stdout: '', stderr: '', exitCode: 0 }), devKvm)).usable, true);
  t.equal((await probeKvm(answer(new VeError('command-timeout', 'environment', 'slow')), devKvm)).usable, false);
  const failed = await probeKvm(answer({ stdout: '', stderr: 'qemu: warning: x\nCould not access KVM kernel module\n', exitCode: 1 }), devKvm);
  t.same(failed, { usable: false, detail: 'qemu -accel kvm -cpu host failed: Could not access KVM kernel module' });
  t.equal((await probeKvm(answer({ stdout: '', stderr: '', exitCode: 0 }), '/nonexistent/kvm')).usable, false);
});

void t.test('the LXC console pty is read from the live domain XML, nothing else is accepted', async (t) => {
  t.equal(await findConsolePty("<domain><devices><console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/></console></devices></domain>"), '/dev/pts/3');
  t.equal(await findConsolePty("<domain><devices><console type='pty'><source path='/etc/shadow'/></console></devices></domain>"), undefined);
  t.equal(await findConsolePty('<domain><devices/></domain>'), undefined);
});

void t.test('ve console prints the last lines only', (t) => {
  const file = join(makeTempDir('/tmp/pbsve-unit-console-'), 'console.log');
  writeFileSync(file, Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n');
  t.equal(readLastLines(file, 3).text, 'line 4997\nline 4998\nline 4999\n');
  t.equal(readLastLines(file, 0).text, '');
  t.equal(readLastLines(file, 10_000).text.split('\n').length, 5001);
  t.match(t.throws(() => parseLineCount('-1')), { field: 'lines' });
  t.match(t.throws(() => parseLineCount('1e9')), { field: 'lines' });
  t.equal(parseLineCount('20'), 20);
  t.end();
});

void t.test('the KVM probe boots the VE\'s machine type with the host CPU; a timeout is not remembered, answers are per host', async (t) => {
  const dir = makeTempDir('/tmp/pbsve-unit-kvm-');
  const devKvm = join(dir, 'kvm');
  writeFileSync(devKvm, '');
  let args: readonly string[] = [];
  const seen: RunCommand = (_file, a) => { args = a; return Promise.resolve({ stdout: '', stderr: 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n', exitCode: 134 }); };
  const msr = await probeKvm(seen, devKvm);
  t.same(args.slice(0, 6), ['-accel', 'kvm', '-machine', 'pc', '-cpu', 'host'], 'the same machine and CPU a kvm VE gets (host-passthrough)');
  t.same(msr, { usable: false, detail: 'qemu -accel kvm -cpu host failed: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' });
  t.equal((await probeKvm(() => Promise.reject(new VeError('command-timeout', 'environment', 'slow')), devKvm)).conclusive, false);

  let probes = 0;
  const slow = (): Promise<{ usable: boolean; detail: string; conclusive: boolean }> => { probes++; return Promise.resolve({ usable: false, detail: 'busy', conclusive: false }); };
  await probeKvmCached(dir, slow, { host: 'node1' });
  await probeKvmCached(dir, slow, { host: 'node1' });
  t.equal(probes, 2, 'a timeout on a busy host proves nothing: asked again next time');
  const yes = (): Promise<{ usable: boolean; detail: string }> => { probes++; return Promise.resolve({ usable: true, detail: 'ok' }); };
  const no = (): Promise<{ usable: boolean; detail: string }> => { probes++; return Promise.resolve({ usable: false, detail: 'MSR' }); };
  t.equal((await probeKvmCached(dir, yes, { host: 'node1' })).usable, true);
  t.equal((await probeKvmCached(dir, no, { host: 'node2' })).usable, false, 'node2 has its own answer');
  t.equal((await probeKvmCached(dir, no, { host: 'node1' })).usable, true, 'node1 keeps its answer');
  t.equal(probes, 4);
  const later = new Date(Date.now() + KVM_PROBE_MAX_AGE_MS + 1000);
  t.equal((await probeKvmCached(dir, no, { host: 'node1', now: later })).usable, false, 'after a day the host is asked again');
  recordKvmUnusable(dir, 'node2', 'a VE failed to start under KVM: failed to set MSR 0x10a');
  t.same(await resolveQemuAcceleration('auto', dir, () => Promise.reject(new Error('must not probe')), 'node2'), {
    domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG: a VE failed to start under KVM: failed to set MSR 0x10a',
  });
  t.equal(findKvmProbeFile(dir, '../x'), join(dir, 'kvm-probe.json'), 'a host name that is no file name is not used as one');
  const auto = await resolveQemuAcceleration('auto', dir, yes, 'node3');
  t.same(auto, { domainType: 'kvm', emulated: false, reason: 'hardware acceleration (KVM)', mayFallBack: true }, 'auto may fall back');
  t.notOk((await resolveQemuAcceleration('kvm', dir, yes, 'node3')).mayFallBack, 'the admin\'s kvm does not');
});

void t.test('fallback to TCG: only a kvm start in auto mode that KVM itself failed', (t) => {
  const msr = new VeError('virt-failed', 'exec', "libvirt start pbsve-7 failed: internal error: process exited while connecting to monitor: 2026-12-02T04:40:13.875613Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.");
  const auto = { domainType: 'kvm' as const, mayFallBack: true };
  t.ok(decideKvmFallback(auto, msr), 'the MSR abort of a software /dev/kvm');
  t.ok(decideKvmFallback(auto, new VeError('virt-failed', 'exec', 'libvirt start x failed: qemu: Could not access KVM kernel module: Permission denied')));
  t.ok(decideKvmFallback(auto, new VeError('virt-failed', 'exec', 'qemu-system-x86_64: failed to initialize kvm: No such file or directory')));
  t.notOk(decideKvmFallback({ domainType: 'kvm' }, msr), 'config kvmAcceleration=kvm: the admin insisted, the failure stands');
  t.notOk(decideKvmFallback({ domainType: 'qemu', mayFallBack: true }, msr), 'already TCG');
  t.notOk(decideKvmFallback(auto, new VeError('virt-failed', 'exec', 'libvirt start x failed: qemu: initrd is too large')), 'the guest\'s own fault');
  t.notOk(decideKvmFallback(auto, new VeError('virt-timeout', 'environment', 'domain pbsve-7 not running within 60000 ms')), 'a slow start says nothing about KVM');
  t.notOk(decideKvmFallback(auto, new VeError('invalid-domain-spec', 'prereq', 'domain spec kvm_x: bad')), 'a refused spec');
  t.notOk(decideKvmFallback(auto, new Error('failed to set MSR 0x10a')), 'only libvirt\'s errors, as the adapter reports them');
  t.equal(describeKvmFailure(msr), 'failed to set MSR 0x10a to 0x69', 'one line for the record');
  t.end();
});
