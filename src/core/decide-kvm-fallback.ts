// A --type kvm VE that KVM itself cannot start is the host's accelerator at fault, not the VE or the host as a whole.
import { VeError } from './ve-error.js';

/**
 * What QEMU and libvirt say when the accelerator, not the guest, fails: a software /dev/kvm without
 * VT-x aborts on the host CPU's MSRs ("failed to set MSR 0x10a", kvm_buf_set_msrs assertion), a missing
 * or busy module cannot be opened. A guest's own faults (initrd too large, a bad disk) never say KVM.
 */
const KVM_FAILURE = /failed to set MSR|kvm_[a-z_]+: Assertion|KVM_[A-Z_]+ failed|Could not access KVM kernel module|failed to initialize kvm|kvm run failed|\/dev\/kvm/i;

export interface KvmFallbackInput {
  /** what the VE was started with */
  readonly domainType: 'kvm' | 'qemu';
  /** auto mode only: the admin did not insist on kvm */
  readonly mayFallBack?: boolean;
}

// Falls back only where it can help: a kvm start in auto mode that failed for KVM's reason.
export function decideKvmFallback(acceleration: KvmFallbackInput, err: unknown): boolean {
  if (acceleration.domainType !== 'kvm' || acceleration.mayFallBack !== true) return false;
  if (!(err instanceof VeError) || err.kind === 'prereq') return false;
  return KVM_FAILURE.test(err.message);
}

/** The libvirt message, cut to one line for the record and the running event. */
export function describeKvmFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = /failed to set MSR[^\n]*|[^\n]*kvm[^\n]*/i.exec(text)?.[0] ?? text;
  return line.replace(/\s+/g, ' ').trim().slice(0, 160);
}
