import { VeError } from './ve-error.js';
import type { VeSpec } from './ve-spec.js';
import type { JobResources } from '../batch/batch.js';

// A VE may never get more than its job holds: the scheduler's allocation is the only authority.
export function checkSpecFitsAllocation(spec: VeSpec, allocated: JobResources): void {
  const problems: string[] = [];
  if (spec.vcpus > allocated.cpus) problems.push(`vcpus ${spec.vcpus} > ${allocated.cpus} allocated`);
  if (allocated.memoryMiB === undefined) problems.push('the job has no memory limit, a VE needs one');
  else if (spec.memoryMiB > allocated.memoryMiB) problems.push(`memory ${spec.memoryMiB} MiB > ${allocated.memoryMiB} MiB allocated`);
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
