import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import type { DomainSpec } from '../virt/domain-spec.js';
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
  };
  if (spec.type === 'lxc') {
    if (disk.rootfsDir === undefined) throw new VeError('disk-mismatch', 'exec', `image ${image.name}: an LXC VE needs a root file system tree`);
    return { ...common, type: 'lxc', lxc: { rootfsDir: disk.rootfsDir, init: image.init } };
  }
  // no /dev/kvm acceleration assumed here: hosts that have it switch the type in a later step
  return {
    ...common,
    type: 'qemu',
    qemu: {
      ...(image.kernel === undefined ? {} : { kernel: image.kernel }),
      ...(image.initrd === undefined ? {} : { initrd: image.initrd }),
      ...(image.cmdline === undefined ? {} : { cmdline: image.cmdline }),
      disks: disk.diskPath === undefined ? [] : [{ path: disk.diskPath, format: 'qcow2', targetDev: 'vda' }],
      serialLogPath: join(input.jobDir, 'console.log'),
    },
  };
}
