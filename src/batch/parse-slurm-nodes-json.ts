// `sinfo --json` nodes in the port's terms; the node's jobs come from squeue, which sinfo does not list.
import type { BatchJob, BatchNode, NodeState } from './batch.js';
import { type JsonObject, parseSlurmJson, readNumber, readObjectArray, readString, readStringArray } from './slurm-json-fields.js';
import { splitSlurmFeatures } from './parse-slurm-jobs-json.js';

// Down beats drained (the stronger fact), drained beats busy: TORQUE's down/offline/job-exclusive order.
// NOT_RESPONDING ("idle*") alone is not down: Slurm shows it briefly after every resume and slurmd restart,
// and declares the node DOWN itself after SlurmdTimeout.
export function mapSlurmNodeState(baseState: string, flags: readonly string[]): NodeState {
  const base = baseState.toUpperCase();
  const upperFlags = flags.map((f) => f.toUpperCase());
  if (base === 'DOWN' || base === 'ERROR') return 'down';
  if (base === 'DRAINED' || base === 'DRAINING' || upperFlags.some((f) => f.startsWith('DRAIN') || f === 'FAIL')) {
    return 'offline';
  }
  if (base === 'IDLE' || base === 'MIXED') return 'free';
  if (base === 'ALLOCATED') return 'busy';
  return 'unknown';
}

// scontrol's spelling ("IDLE+DRAIN"), which admins recognise.
function formatRawNodeState(baseState: string, flags: readonly string[]): string {
  return [baseState.toUpperCase(), ...flags.map((f) => f.toUpperCase())].join('+');
}

// One sinfo --json node; jobIds are the running/exiting jobs whose hosts include it.
export function toBatchNode(node: JsonObject, jobs: readonly BatchJob[]): BatchNode {
  const name = readString(node, 'name');
  const baseState = readString(node, 'state');
  const flags = readStringArray(node, 'state_flags');
  const reason = readString(node, 'reason');
  const features = readString(node, 'active_features') || readString(node, 'features');
  const memory = readNumber(node, 'real_memory');
  return {
    name,
    state: mapSlurmNodeState(baseState, flags),
    rawState: formatRawNodeState(baseState, flags),
    cpus: readNumber(node, 'cpus') ?? 0,
    memoryMiB: memory !== undefined && memory > 0 ? memory : undefined,
    features: splitSlurmFeatures(features),
    jobIds: jobs
      .filter((j) => (j.state === 'running' || j.state === 'exiting') && j.execHosts.includes(name))
      .map((j) => j.jobId),
    note: reason === '' ? undefined : reason,
  };
}

// Every node slurmctld knows, each once (sinfo may list a node per partition).
export function parseSlurmNodesJson(text: string, jobs: readonly BatchJob[]): BatchNode[] {
  const dump = parseSlurmJson(text, 'sinfo');
  const seen = new Set<string>();
  const nodes: BatchNode[] = [];
  for (const node of readObjectArray(dump, 'nodes', 'sinfo')) {
    const name = readString(node, 'name');
    if (name === '' || seen.has(name)) continue;
    seen.add(name);
    nodes.push(toBatchNode(node, jobs));
  }
  return nodes;
}
