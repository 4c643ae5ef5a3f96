import { validateVeSpec } from './validate-ve-spec.js';
import type { VeSpec } from './ve-spec.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

/**
 * The prologue's second look, as root, at every bound `ve create` checked as the user: a job script
 * written by hand (sbatch/qsub without ve create) skips the first. Sizes above the allocation are
 * checked against the allocation itself (checkSpecFitsAllocation); here: memory floor, lease, nodes,
 * NIC count, names and disks, with this cluster's configured limits.
 */
export function checkSpecAgainstConfig(spec: VeSpec, config: Pick<PbsVeConfig, 'minMemoryMiB' | 'network'> & { readonly batch?: Partial<PbsVeConfig['batch']> }): VeSpec {
  const batch = config.batch ?? {};
  return validateVeSpec(
    {
      name: spec.name, type: spec.type, image: spec.image, vcpus: spec.vcpus, memory: spec.memoryMiB, lease: spec.leaseSeconds,
      disks: spec.disks, keepDisks: spec.keepDisks, sshKeys: spec.sshKeys, nodes: spec.nodes, networks: spec.networks,
      hostname: spec.hostname, hosts: spec.hosts, bootScript: spec.bootScript,
    },
    {
      maxVcpus: 4096, maxMemoryMiB: 64 * 1024 * 1024, maxLeaseSeconds: batch.maxLeaseSeconds ?? Number.MAX_SAFE_INTEGER, minMemoryMiB: config.minMemoryMiB,
      maxNodes: batch.maxNodes ?? 16, ...(config.network === undefined ? {} : { maxNics: config.network.maxNics }),
    },
  );
}
