// `pbsnodes -x` tells which hosts can take VEs, what they offer and which jobs sit on them.
import type { BatchNode, NodeState } from './batch.js';
import { parseTorqueSizeBytes } from './parse-torque-resources.js';
import { parseTorqueXml, readXmlRecords, readXmlText, torqueParseError, type TorqueXmlElement } from './parse-torque-xml.js';
import { VeError } from '../core/ve-error.js';

const WHAT = 'pbsnodes -x output';

// A node reports a comma list of states (down,offline); the worst one decides what pbs-ve may do there.
export function mapTorqueNodeState(rawState: string): NodeState {
  const words = rawState.split(',').map((w) => w.trim());
  if (words.includes('down')) return 'down';
  if (words.includes('offline')) return 'offline';
  if (words.some((w) => w === 'unknown' || w === 'state-unknown')) return 'unknown';
  if (words.some((w) => w === 'job-exclusive' || w === 'busy' || w === 'reserve')) return 'busy';
  if (words.some((w) => w === 'free' || w === 'job-sharing' || w === 'time-shared')) return 'free';
  return 'unknown';
}

// Nodes are parsed one by one and a bad one is named, so an operator can find it in pbsnodes -a.
// slotsPerCpu: TORQUE slots per pbs-ve cpu; np = slotsPerCpu x cpus + the op slots (docs/design.md, "Capacity")
export function parsePbsnodesXml(xml: string, slotsPerCpu = 1): BatchNode[] {
  const root = parseTorqueXml(xml, WHAT);
  if (root === undefined) return [];
  return readXmlRecords(root, 'Node', WHAT).map((node, index) => {
    const name = readXmlText(node, 'name', WHAT);
    try {
      return readNode(node, name, slotsPerCpu);
    } catch (err) {
      if (err instanceof VeError && err.code === 'torque-parse') {
        throw torqueParseError(`${WHAT}, node ${JSON.stringify(name ?? `#${index + 1}`)}`, err.message, err);
      }
      throw err;
    }
  });
}

// Memory is the MOM's physmem (capacity, rounded down); availmem changes every poll and is not a property.
function readNode(node: TorqueXmlElement, name: string | undefined, slotsPerCpu: number): BatchNode {
  if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(name)) {
    throw torqueParseError('name', `not a host name (got ${JSON.stringify(name)})`);
  }
  const text = (key: string): string | undefined => readXmlText(node, key, key);
  const rawState = text('state') ?? '';
  const np = text('np');
  if (np !== undefined && !/^[0-9]{1,6}$/.test(np)) throw torqueParseError('np', `not a whole number (got ${JSON.stringify(np)})`);
  const physmem = parsePbsnodesStatus(text('status') ?? '').physmem;
  return {
    name,
    state: mapTorqueNodeState(rawState),
    rawState,
    cpus: np === undefined ? 0 : Math.floor(Number(np) / slotsPerCpu),
    memoryMiB: physmem === undefined ? undefined : Math.floor(parseTorqueSizeBytes(physmem) / 1048576),
    features: splitList(text('properties')),
    jobIds: parseNodeJobs(text('jobs')),
    note: text('note'),
  };
}

// jobs is slot/jobid pairs (0/14.vm,1/15.vm or 0-1/14.vm); a job on several slots is one job.
export function parseNodeJobs(text: string | undefined): string[] {
  const ids: string[] = [];
  for (const item of splitList(text)) {
    const id = item.slice(item.indexOf('/') + 1);
    if (id !== '' && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

// status is comma-separated K=V, but uname holds spaces and may hold commas: a piece without '=' belongs to the previous value.
export function parsePbsnodesStatus(text: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const last = entries[entries.length - 1];
    if (eq < 1) {
      if (last !== undefined) last[1] += `,${item}`;
      continue;
    }
    entries.push([item.slice(0, eq), item.slice(eq + 1)]);
  }
  return Object.fromEntries(entries);
}

// properties and jobs are plain comma lists.
function splitList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
