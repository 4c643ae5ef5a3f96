// Unit tests of reconcile and recovery describe clusters as jobs, nodes and VE entries: one set of builders.
import type { BatchJob, BatchNode } from '../../src/batch/batch.js';
import type { VeRecord } from '../../src/inventory/inventory.js';

export function buildJob(jobId: string, patch: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: `ve-v${jobId}`, owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

export function buildNode(name: string, state: BatchNode['state'], rawState: string): BatchNode {
  return { name, state, rawState, cpus: 2, memoryMiB: 1000, features: ['lxc'], jobIds: [], note: undefined };
}

export function buildVeRecord(jobId: string, patch: Partial<VeRecord> = {}): VeRecord {
  return {
    jobId, name: `v${jobId}`, owner: 'user1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, state: 'running',
    host: 'node1', domain: `pbsve-${jobId}`, seq: 1_000_002, lastChange: '2026-05-01T09:00:00.000Z', ...patch,
  };
}
