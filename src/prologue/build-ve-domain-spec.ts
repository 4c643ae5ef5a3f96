import { findVeJobFile } from '../host/ve-job-record.js';
import { VeError } from '../core/ve-error.js';
import type { DomainInterface, DomainSpec, LxcIdMap } from '../virt/domain-spec.js';
import type { VeSpec } from '../core/ve-spec.js';
import type { ImageManifest } from '../images/image-manifest.js';
import type { PreparedDisk } from '../host/ve-disks.js';

export interface VeDomainInput {
  readonly spec: VeSpec;
  readonly image: ImageManifest;
  readonly disk: PreparedDisk;
  readonly domain: string;
  readonly jobId: string;
  readonly owner: string;
  readonly jobDir: string;
  /** --type kvm only: hardware or emulated, as resolved on this host */
  readonly domainType?: 'kvm' | 'qemu';
  /** cloud-init images: the VE's NoCloud seed image, attached read-only after the data disks */
  readonly seedPath?: string;
  /** the NICs planned for this host (planVeNetworks) */
  readonly interfaces?: readonly DomainInterface[];
  /** --type lxc only: the host ids the container's are mapped to (its rootfs copy is owned by them) */
  readonly lxcIdMap?: LxcIdMap;
}

/** the serial console of a QEMU VE (and the captured console of an LXC VE) */
export function buildConsoleLogPath(jobDir: string): string {
  return findVeJobFile(jobDir, 'console');
}

// vda is the image overlay; data disks follow in spec order (at most 4, so never past vde).
function buildDataDiskTarget(index: number): string {
  return `vd${String.fromCharCode('b'.charCodeAt(0) + index)}`;
}

// The domain gets exactly what the job was allocated: the spec was checked against it before.
export function buildVeDomainSpec(input: VeDomainInput): DomainSpec {
  const { spec, image, disk } = input;
  const common = {
    name: input.domain,
    vcpus: spec.vcpus,
    memoryMiB: spec.memoryMiB,
    title: `pbs-ve ${spec.name} (job ${input.jobId}, ${input.owner})`,
    metadata: { jobId: input.jobId, owner: input.owner, veName: spec.name },
    ...(input.interfaces === undefined || input.interfaces.length === 0 ? {} : { interfaces: input.interfaces }),
  };
  if (spec.type === 'lxc') {
    if (disk.rootfsDir === undefined) throw new VeError('disk-mismatch', 'exec', `image ${image.name}: an LXC VE needs a root file system tree`);
    // never a container as the host's root: without a range there is no domain
    if (input.lxcIdMap === undefined) throw new VeError('lxc-ids-missing', 'exec', `domain ${input.domain}: an LXC VE needs its own id range`);
    return { ...common, type: 'lxc', lxc: { rootfsDir: disk.rootfsDir, idMap: input.lxcIdMap, init: image.init } };
  }
  const boot = disk.diskPath === undefined ? [] : [{ path: disk.diskPath, format: 'qcow2' as const, targetDev: 'vda' }];
  const data = disk.dataDisks.map((path, i) => ({ path, format: 'qcow2' as const, targetDev: buildDataDiskTarget(i) }));
  // last, so the data disks keep their names (vdb = first data disk) whether a seed is there or not
  const seed = input.seedPath === undefined ? [] : [{ path: input.seedPath, format: 'raw' as const, targetDev: buildDataDiskTarget(data.length), readOnly: true }];
  return {
    ...common,
    type: input.domainType ?? 'qemu',
    qemu: {
      ...(image.kernel === undefined ? {} : { kernel: image.kernel }),
      ...(image.initrd === undefined ? {} : { initrd: image.initrd }),
      ...(image.cmdline === undefined ? {} : { cmdline: image.cmdline }),
      disks: [...boot, ...data, ...seed],
      serialLogPath: buildConsoleLogPath(input.jobDir),
    },
  };
}
