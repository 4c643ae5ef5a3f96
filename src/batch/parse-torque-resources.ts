// TORQUE writes resources as text (nodes=1:ppn=2:general, mem=128mb, walltime=00:10:00); pbs-ve wants numbers.
import type { JobResources } from './batch.js';
import { torqueParseError } from './torque-parse-error.js';

export interface TorqueNodeSpec {
  readonly nodeCount: number;
  readonly cpus: number;
  readonly features: readonly string[];
}

const MAX_LIST_LENGTH = 8192;
const RESOURCE_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

// The pelog gets Resource_List and resources_used as one comma string ($5, $6, $7); values hold no commas.
export function parseTorqueResourceList(text: string): Record<string, string> {
  if (text.length > MAX_LIST_LENGTH) throw torqueParseError('resource list', `longer than ${MAX_LIST_LENGTH} characters`);
  if (text.trim() === '') return {};
  const entries: [string, string][] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (eq < 1 || !RESOURCE_NAME.test(name)) {
      throw torqueParseError('resource list', `item is not name=value (got ${JSON.stringify(item)})`);
    }
    entries.push([name, item.slice(eq + 1)]);
  }
  return Object.fromEntries(entries);
}

const COUNT = /^[0-9]{1,6}$/;
const PROPERTY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

// nodes=2:ppn=2+1:ppn=1:general; a first word that is not a number names a host (one node), later words are properties.
// slotsPerCpu: how many TORQUE slots (np, ppn) pbs-ve counts as one cpu (docs/design.md, "Capacity"); a job's
// leftover slots (an op job's ppn=1) are no cpu.
export function parseTorqueNodeSpec(text: string, slotsPerCpu = 1): TorqueNodeSpec {
  let nodeCount = 0;
  let cpus = 0;
  const features: string[] = [];
  for (const part of text.split('+')) {
    const words = part.split(':');
    const first = words[0] ?? '';
    let count = 1;
    if (COUNT.test(first)) count = Number(first);
    else if (!PROPERTY.test(first)) throw torqueParseError('node spec', `bad node count or host (got ${JSON.stringify(text)})`);
    let ppn = 1;
    for (const word of words.slice(1)) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        if (!PROPERTY.test(word)) throw torqueParseError('node spec', `bad property (got ${JSON.stringify(text)})`);
        if (!features.includes(word)) features.push(word);
        continue;
      }
      const key = word.slice(0, eq);
      const value = word.slice(eq + 1);
      if (!COUNT.test(value)) throw torqueParseError('node spec', `${key} is not a number (got ${JSON.stringify(text)})`);
      if (key === 'ppn') ppn = Number(value);
      // gpus=, mics= and the like do not change the cpu count
    }
    if (count < 1 || ppn < 1) throw torqueParseError('node spec', `zero nodes or ppn (got ${JSON.stringify(text)})`);
    nodeCount += count;
    cpus += count * Math.floor(ppn / slotsPerCpu);
  }
  return { nodeCount, cpus, features };
}

const SIZE = /^([0-9]{1,15})([kmgtp]?)([bw]?)$/;
const SIZE_SHIFT: Readonly<Record<string, number>> = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50 };

// TORQUE sizes are 128mb, 1gb, 1024kb, 2048b (and words, 8 bytes); everything else in pbs-ve is MiB.
export function parseTorqueSizeBytes(text: string): number {
  const match = SIZE.exec(text.trim().toLowerCase());
  if (match === null) throw torqueParseError('size', `not a TORQUE size like 128mb (got ${JSON.stringify(text)})`);
  const bytes = Number(match[1]) * 2 ** (SIZE_SHIFT[match[2] ?? ''] ?? 0) * (match[3] === 'w' ? 8 : 1);
  if (!Number.isSafeInteger(bytes)) throw torqueParseError('size', `too large (got ${JSON.stringify(text)})`);
  return bytes;
}

// A limit rounded down would be a limit the job can exceed, so limits round up to the next MiB.
export function parseTorqueSizeMiB(text: string): number {
  return Math.ceil(parseTorqueSizeBytes(text) / 1048576);
}

// Walltime comes as [[DD:]HH:]MM:SS or plain seconds (qsub -l walltime=600 is stored as 00:10:00).
export function parseTorqueWalltime(text: string): number {
  const trimmed = text.trim();
  const parts = trimmed.split(':');
  if (parts.length > 4 || parts.some((p) => !/^[0-9]{1,9}$/.test(p))) {
    throw torqueParseError('walltime', `not [[DD:]HH:]MM:SS or seconds (got ${JSON.stringify(text)})`);
  }
  const factors = [86400, 3600, 60, 1].slice(4 - parts.length);
  return parts.reduce((sum, p, i) => sum + Number(p) * (factors[i] ?? 1), 0);
}

// One reading of Resource_List for qstat XML and pelog argv: nodes, else neednodes (queue defaults), else procs.
export function buildTorqueJobResources(list: Readonly<Record<string, string>>, slotsPerCpu = 1): JobResources {
  const nodesText = list.nodes ?? list.neednodes;
  const spec = nodesText === undefined ? undefined : parseTorqueNodeSpec(nodesText, slotsPerCpu);
  let cpus = spec?.cpus ?? 1;
  let nodeCount = spec?.nodeCount ?? 1;
  if (spec === undefined) {
    const procs = list.procs ?? list.ncpus;
    if (procs !== undefined) {
      if (!COUNT.test(procs)) throw torqueParseError('resource list', `procs is not a number (got ${JSON.stringify(procs)})`);
      cpus = Math.floor(Number(procs) / slotsPerCpu);
    }
    if (list.nodect !== undefined && COUNT.test(list.nodect)) nodeCount = Number(list.nodect);
  }
  return {
    cpus,
    nodeCount,
    // TORQUE's mem is the job's total; the port states memory per node (the parts of a VE are equal)
    memoryMiB: list.mem === undefined ? undefined : Math.floor(parseTorqueSizeMiB(list.mem) / Math.max(1, nodeCount)),
    walltimeSeconds: list.walltime === undefined ? undefined : parseTorqueWalltime(list.walltime),
    features: spec?.features ?? [],
  };
}
