// Which libvirt domain type a --type kvm VE gets on this host: kvm (hardware) or qemu (TCG, emulated).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import type { KvmAcceleration } from '../config/pbs-ve-config.js';

export interface QemuAcceleration {
  readonly domainType: 'kvm' | 'qemu';
  readonly emulated: boolean;
  /** one line for the job record and the running event */
  readonly reason: string;
}

export interface KvmProbeResult {
  readonly usable: boolean;
  readonly detail: string;
}

interface CachedProbe extends KvmProbeResult {
  readonly bootId: string;
  readonly at: string;
}

const PROBE_TIMEOUT_MS = 4000;
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/**
 * /dev/kvm existing proves nothing (here it is a software backend that hangs guests): boot QEMU's
 * own firmware under -accel kvm with no disk; SeaBIOS then reboots at once and -no-reboot makes QEMU
 * exit 0 in well under a second. A hang or an error means KVM cannot run guests on this host.
 */
export async function probeKvm(run: RunCommand = runCommand, devKvm = '/dev/kvm'): Promise<KvmProbeResult> {
  if (!existsSync(devKvm)) return { usable: false, detail: `${devKvm} does not exist` };
  const args = ['-accel', 'kvm', '-machine', 'pc', '-m', '16', '-nodefaults', '-display', 'none', '-no-reboot',
    '-boot', 'strict=on,reboot-timeout=0', '-serial', 'none', '-monitor', 'none'];
  try {
    const r = await run('qemu-system-x86_64', args, { timeoutMs: PROBE_TIMEOUT_MS });
    if (r.exitCode === 0) return { usable: true, detail: 'a KVM guest ran its firmware to the end' };
    const line = r.stderr.split('\n').find((l) => l.trim() !== '' && !l.includes('warning:')) ?? `exit ${r.exitCode}`;
    return { usable: false, detail: `qemu -accel kvm failed: ${line.trim().slice(0, 160)}` };
  } catch (err) {
    if (err instanceof VeError && err.code === 'command-timeout') {
      return { usable: false, detail: `${devKvm} exists but a KVM guest did not get through its firmware within ${PROBE_TIMEOUT_MS} ms` };
    }
    if (err instanceof VeError && err.code === 'command-failed-to-start') return { usable: false, detail: 'qemu-system-x86_64 is not installed' };
    throw err;
  }
}

function readBootId(): string {
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

// The probe costs up to 4 s and its answer cannot change before the next boot: keep it per boot.
export async function probeKvmCached(stateDir: string, probe: () => Promise<KvmProbeResult> = () => probeKvm()): Promise<KvmProbeResult> {
  const file = join(stateDir, 'kvm-probe.json');
  const bootId = readBootId();
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as Partial<CachedProbe>;
    if (cached.bootId === bootId && typeof cached.usable === 'boolean' && typeof cached.detail === 'string') {
      return { usable: cached.usable, detail: cached.detail };
    }
  } catch {
    // no cache yet, or a broken one: probe again
  }
  const result = await probe();
  const record: CachedProbe = { ...result, bootId, at: new Date().toISOString() };
  mkdirSync(stateDir, { recursive: true });
  writeFileNoFollow(file, `${JSON.stringify(record)}\n`, { mode: 0o644 });
  return result;
}

// The admin's setting wins; auto asks the (cached) probe.
export async function resolveQemuAcceleration(
  mode: KvmAcceleration,
  stateDir: string,
  probe: () => Promise<KvmProbeResult> = () => probeKvm(),
): Promise<QemuAcceleration> {
  if (mode === 'kvm') return { domainType: 'kvm', emulated: false, reason: 'hardware acceleration (config virt.kvmAcceleration=kvm)' };
  if (mode === 'tcg') return { domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG (config virt.kvmAcceleration=tcg)' };
  const result = await probeKvmCached(stateDir, probe);
  return result.usable
    ? { domainType: 'kvm', emulated: false, reason: 'hardware acceleration (KVM)' }
    : { domainType: 'qemu', emulated: true, reason: `emulated by QEMU TCG: ${result.detail}` };
}
