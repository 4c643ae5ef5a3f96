import { VeError } from './ve-error.js';
import { countVeNodes, type VeSpec } from './ve-spec.js';
import type { JobResources } from '../batch/batch.js';

// A VE may never get more than its job holds: the scheduler's allocation is the only authority, per node.
export function checkSpecFitsAllocation(spec: VeSpec, allocated: JobResources): void {
  const problems: string[] = [];
  const nodes = countVeNodes(spec);
  const nodeCount = Math.max(1, allocated.nodeCount);
  if (nodes > nodeCount) problems.push(`nodes ${nodes} > ${nodeCount} allocated`);
  const cpusPerNode = Math.floor(allocated.cpus / nodeCount);
  if (spec.vcpus > cpusPerNode) problems.push(nodeCount === 1 ? `vcpus ${spec.vcpus} > ${allocated.cpus} allocated` : `vcpus ${spec.vcpus} > ${cpusPerNode} allocated per node`);
  const memoryPerNode = allocated.memoryMiB;
  if (memoryPerNode === undefined) problems.push('the job has no memory limit, a VE needs one');
  else if (spec.memoryMiB > memoryPerNode) {
    problems.push(nodeCount === 1 ? `memory ${spec.memoryMiB} MiB > ${memoryPerNode} MiB allocated` : `memory ${spec.memoryMiB} MiB > ${memoryPerNode} MiB allocated per node`);
  }
  if (allocated.walltimeSeconds === undefined) problems.push('the job has no walltime, a VE needs a lease');
  else if (spec.leaseSeconds > allocated.walltimeSeconds) problems.push(`lease ${spec.leaseSeconds} s > walltime ${allocated.walltimeSeconds} s`);
  if (!allocated.features.includes(spec.type)) problems.push(`the job did not request node feature "${spec.type}"`);
  if (problems.length > 0) {
    throw new VeError('spec-exceeds-allocation', 'prereq', `VE spec does not fit the job's allocation: ${problems.join('; ')}`, {
      field: 'spec',
      details: { problems },
    });
  }
}
