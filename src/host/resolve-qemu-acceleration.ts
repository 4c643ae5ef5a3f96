// Which libvirt domain type a --type kvm VE gets on this host: kvm (hardware) or qemu (TCG, emulated).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { makeReadableDir } from './make-readable-dir.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { QEMU_MACHINE } from '../virt/build-qemu-domain-xml.js';
import type { KvmAcceleration } from '../config/pbs-ve-config.js';

export interface QemuAcceleration {
  readonly domainType: 'kvm' | 'qemu';
  readonly emulated: boolean;
  /** one line for the job record and the running event */
  readonly reason: string;
  /** auto mode chose kvm: a VE start that KVM itself fails may switch this host to TCG (decideKvmFallback) */
  readonly mayFallBack?: boolean;
}

export interface KvmProbeResult {
  readonly usable: boolean;
  readonly detail: string;
  /** false: no answer in time (a busy host), which proves nothing either way; not remembered, asked again next time */
  readonly conclusive?: boolean;
}

interface CachedProbe extends KvmProbeResult {
  readonly bootId: string;
  readonly at: string;
}

const PROBE_TIMEOUT_MS = 4000;
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
/** a remembered answer is asked again after a day even without a reboot (a kernel module or firmware update) */
export const KVM_PROBE_MAX_AGE_MS = 24 * 3600 * 1000;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

/**
 * /dev/kvm existing proves nothing: on some hosts it is a software backend without VT-x whose guests
 * abort ("failed to set MSR 0x10a") as soon as they get the host's CPU. So the probe boots QEMU's own
 * firmware the way a VE boots (machine type, -cpu host = libvirt's host-passthrough), with no disk:
 * SeaBIOS then reboots at once and -no-reboot makes QEMU exit 0 in well under a second.
 */
export async function probeKvm(run: RunCommand = runCommand, devKvm = '/dev/kvm'): Promise<KvmProbeResult> {
  if (!existsSync(devKvm)) return { usable: false, detail: `${devKvm} does not exist` };
  const args = ['-accel', 'kvm', '-machine', QEMU_MACHINE, '-cpu', 'host', '-m', '16', '-nodefaults', '-display', 'none', '-no-reboot',
    '-boot', 'strict=on,reboot-timeout=0', '-serial', 'none', '-monitor', 'none'];
  try {
    const r = await run('qemu-system-x86_64', args, { timeoutMs: PROBE_TIMEOUT_MS });
    if (r.exitCode === 0) return { usable: true, detail: 'a KVM guest with the host CPU ran its firmware to the end' };
    const line = r.stderr.split('\n').find((l) => l.trim() !== '' && !l.includes('warning:')) ?? `exit ${r.exitCode}`;
    return { usable: false, detail: `qemu -accel kvm -cpu host failed: ${line.trim().slice(0, 160)}` };
  } catch (err) {
    if (err instanceof VeError && err.code === 'command-timeout') {
      return { usable: false, conclusive: false, detail: `${devKvm} exists but a KVM guest did not get through its firmware within ${PROBE_TIMEOUT_MS} ms` };
    }
    if (err instanceof VeError && err.code === 'command-failed-to-start') return { usable: false, detail: `qemu-system-x86_64 could not be run: ${err.message.slice(0, 120)}` };
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

/** <stateDir>/kvm-probe.<host>.json: per host, since hosts may share a state directory (the sandbox's do) */
export function findKvmProbeFile(stateDir: string, host?: string): string {
  return join(stateDir, host !== undefined && HOST_NAME.test(host) ? `kvm-probe.${host}.json` : 'kvm-probe.json');
}

// Atomic replace: prologues of the same host read it concurrently.
function writeKvmProbe(file: string, result: KvmProbeResult, now: Date): void {
  const record: CachedProbe = { usable: result.usable, detail: result.detail, bootId: readBootId(), at: now.toISOString() };
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileNoFollow(file, `${JSON.stringify(record)}\n`, { mode: 0o644 });
}

export interface KvmProbeCacheOptions {
  readonly host?: string;
  readonly now?: Date;
}

// The probe costs up to 4 s and its answer holds until the next boot (or a day): keep it per host and boot.
export async function probeKvmCached(stateDir: string, probe: () => Promise<KvmProbeResult> = () => probeKvm(), options: KvmProbeCacheOptions = {}): Promise<KvmProbeResult> {
  const file = findKvmProbeFile(stateDir, options.host);
  const now = options.now ?? new Date();
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as Partial<CachedProbe>;
    const age = now.getTime() - Date.parse(cached.at ?? '');
    if (cached.bootId === readBootId() && age >= 0 && age < KVM_PROBE_MAX_AGE_MS && typeof cached.usable === 'boolean' && typeof cached.detail === 'string') {
      return { usable: cached.usable, detail: cached.detail };
    }
  } catch {
    // no cache yet, or a broken one: probe again
  }
  const result = await probe();
  makeReadableDir(stateDir, stateDir);
  if (result.conclusive !== false) writeKvmProbe(file, result, now);
  return result;
}

/** What a VE start that KVM itself failed teaches: this host's KVM cannot run VEs, until reboot or expiry. */
export function recordKvmUnusable(stateDir: string, host: string, detail: string, now = new Date()): void {
  writeKvmProbe(findKvmProbeFile(stateDir, host), { usable: false, detail }, now);
}

// The admin's setting wins; auto asks the (cached) probe, and only auto may fall back to TCG.
export async function resolveQemuAcceleration(
  mode: KvmAcceleration,
  stateDir: string,
  probe: () => Promise<KvmProbeResult> = () => probeKvm(),
  host?: string,
): Promise<QemuAcceleration> {
  if (mode === 'kvm') return { domainType: 'kvm', emulated: false, reason: 'hardware acceleration (config virt.kvmAcceleration=kvm)' };
  if (mode === 'tcg') return { domainType: 'qemu', emulated: true, reason: 'emulated by QEMU TCG (config virt.kvmAcceleration=tcg)' };
  const result = await probeKvmCached(stateDir, probe, host === undefined ? {} : { host });
  return result.usable
    ? { domainType: 'kvm', emulated: false, reason: 'hardware acceleration (KVM)', mayFallBack: true }
    : { domainType: 'qemu', emulated: true, reason: `emulated by QEMU TCG: ${result.detail}` };
}
