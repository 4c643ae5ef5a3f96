// The one in-memory batch system of the unit tests: jobs and nodes in maps, every Batch method answered
// from them; a test lists the jobs it needs (defaults fill the rest) and reads what was submitted or done.
import type { Batch, BatchJob, BatchNode, SubmitRequest } from '../../src/batch/batch.js';

export interface FakeBatch extends Batch {
  readonly jobs: Map<string, BatchJob>;
  readonly nodes: Map<string, BatchNode>;
  readonly submitted: SubmitRequest[];
  /** every changing call, as "verb id" */
  readonly calls: string[];
}

// A running one-node job of alice on node1, the shape most tests start from.
export function buildFakeJob(jobId: string, fields: Partial<BatchJob> = {}): BatchJob {
  return {
    jobId, name: 'x', owner: 'alice', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {}, comment: undefined,
    resources: { cpus: 1, memoryMiB: 64, walltimeSeconds: 600, nodeCount: 1, features: [] }, startCount: 1, exitStatus: undefined, submitTime: undefined, startTime: undefined,
    ...fields,
  };
}

export function createFakeBatch(jobs: Record<string, Partial<BatchJob>> = {}): FakeBatch {
  const map = new Map(Object.entries(jobs).map(([id, j]) => [id, buildFakeJob(id, j)]));
  const nodes = new Map<string, BatchNode>();
  const submitted: SubmitRequest[] = [];
  const calls: string[] = [];
  let next = 1000;
  return {
    jobs: map, nodes, submitted, calls,
    submit: (request) => {
      submitted.push(request);
      const id = String(next++);
      // what listings read back: the owner (root's submitAs), variables, comment, a user hold
      map.set(id, buildFakeJob(id, {
        name: request.name, queue: request.queue, state: request.hold === true ? 'held' : 'queued', rawState: request.hold === true ? 'HELD' : 'PENDING', execHosts: [],
        variables: request.variables, comment: request.comment, ...(request.submitAs === undefined ? {} : { owner: request.submitAs }),
      }));
      calls.push(`submit ${id}`);
      return Promise.resolve(id);
    },
    getJob: (id) => Promise.resolve(map.get(id)),
    listJobs: (filter) => Promise.resolve([...map.values()].filter((j) => (filter?.queue === undefined || j.queue === filter.queue) && (filter?.owner === undefined || j.owner === filter.owner))),
    cancel: (id) => {
      calls.push(`cancel ${id}`);
      const j = map.get(id);
      if (j !== undefined) map.set(id, { ...j, state: 'completed', rawState: 'CANCELLED', endCause: 'cancelled' });
      return Promise.resolve();
    },
    listNodes: () => Promise.resolve([...nodes.values()]),
    setNodeOffline: (node, note) => {
      calls.push(`offline ${node}`);
      const n = nodes.get(node);
      if (n !== undefined) nodes.set(node, { ...n, state: 'offline', note });
      return Promise.resolve();
    },
    setNodeOnline: (node) => {
      calls.push(`online ${node}`);
      const n = nodes.get(node);
      if (n !== undefined) nodes.set(node, { ...n, state: 'free', note: undefined });
      return Promise.resolve();
    },
    requeue: (id) => {
      calls.push(`requeue ${id}`);
      const j = map.get(id);
      if (j !== undefined) map.set(id, { ...j, state: 'queued', rawState: 'PENDING', execHosts: [], startCount: j.startCount + 1 });
      return Promise.resolve();
    },
    moveJob: (id, host) => {
      calls.push(`move ${id} ${host}`);
      const j = map.get(id);
      if (j !== undefined) map.set(id, { ...j, state: 'queued', rawState: 'PENDING', execHosts: [], startCount: j.startCount + 1 });
      return Promise.resolve();
    },
    setTimeLimit: (id, seconds) => {
      calls.push(`limit ${id} ${seconds}`);
      const j = map.get(id);
      if (j !== undefined) map.set(id, { ...j, resources: { ...j.resources, walltimeSeconds: seconds } });
      return Promise.resolve();
    },
    readJobScript: () => Promise.resolve(undefined),
    buildAttachCommand: (request) => ({ argv: ['attach', request.jobId, request.host, ...request.command], terminal: false }),
  };
}
