// qsub gets everything on its command line and the script on stdin, so nothing here passes a shell.
import type { SubmitRequest } from './batch.js';
import { formatWalltime } from '../core/parse-size.js';
import { invalidField } from '../core/ve-error.js';
import { findTorqueSlots } from './torque-slots.js';

const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
const QUEUE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SERVER = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?$/;
const FEATURE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** the port's contract: TORQUE -v splits on commas and mangles quotes, '=' would fake a second variable */
const VARIABLE_VALUE = /^[A-Za-z0-9_.:/@+-]{0,4096}$/;
const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
const PATH = /^\/[A-Za-z0-9_./@+-]{0,4095}$/;
const MAX_SCRIPT = 1024 * 1024;

// Small bounded integers only; anything else in -l would be refused by TORQUE after a round trip anyway.
function checkCount(field: string, value: number, max: number, min = 1): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidField(field, `must be a whole number from ${min} to ${max}`, value);
}


// Everything is checked before qsub runs: a refused request must leave no job behind.
export function buildTorqueQsubArgs(request: SubmitRequest, server?: string, slotsPerCpu = 1): string[] {
  if (!JOB_NAME.test(request.name)) throw invalidField('name', 'must be 1-64 of A-Z a-z 0-9 _ . + - starting with a letter or digit', request.name);
  if (!QUEUE.test(request.queue)) throw invalidField('queue', 'must be a TORQUE queue name', request.queue);
  if (server !== undefined && !SERVER.test(server)) throw invalidField('server', 'must be a host name', server);
  checkCount('nodeCount', request.nodeCount, 1024);
  checkCount('cpus', request.cpus, 65536, 0);
  checkCount('slotsPerCpu', slotsPerCpu, 16);
  for (const feature of request.features) {
    if (!FEATURE.test(feature)) throw invalidField('features', 'each must be a TORQUE node property (letter first, then A-Z a-z 0-9 _ . -)', feature);
  }
  if (request.memoryMiB !== undefined) checkCount('memoryMiB', request.memoryMiB, 1024 * 1024 * 1024);
  if (request.walltimeSeconds !== undefined) checkCount('walltimeSeconds', request.walltimeSeconds, 100 * 365 * 86400);
  const variables = Object.entries(request.variables);
  for (const [name, value] of variables) {
    if (!VARIABLE_NAME.test(name)) throw invalidField(`variables.${name.slice(0, 64)}`, 'must be an environment variable name');
    if (!VARIABLE_VALUE.test(value)) {
      throw invalidField(`variables.${name}`, 'TORQUE -v splits on commas: the value must only hold A-Z a-z 0-9 _ . : / @ + - (no commas, quotes, spaces or =)', value.slice(0, 80));
    }
  }
  if (!request.script.startsWith('#!')) throw invalidField('script', 'must start with #!');
  if (request.script.length > MAX_SCRIPT) throw invalidField('script', `must be at most ${MAX_SCRIPT} characters`);
  if (request.outputPath !== undefined && !PATH.test(request.outputPath)) {
    throw invalidField('outputPath', 'must be an absolute path of A-Z a-z 0-9 _ . / @ + -', request.outputPath);
  }
  if (request.workdir !== undefined && !PATH.test(request.workdir)) {
    throw invalidField('workdir', 'must be an absolute path of A-Z a-z 0-9 _ . / @ + -', request.workdir);
  }

  if (request.shell !== undefined && !PATH.test(request.shell)) {
    throw invalidField('shell', 'must be an absolute path of A-Z a-z 0-9 _ . / @ + -', request.shell);
  }

  if (request.nodeList !== undefined) {
    if (request.nodeList.length !== request.nodeCount) throw invalidField('nodeList', `must name exactly ${request.nodeCount} host(s), one per node`, request.nodeList);
    for (const node of request.nodeList) {
      if (!HOST.test(node)) throw invalidField('nodeList', 'each must be one host name (A-Z a-z 0-9 . -)', node);
    }
    if (new Set(request.nodeList).size !== request.nodeList.length) throw invalidField('nodeList', 'must not name a host twice', request.nodeList);
  }

  // the port's sizes are per node, and so is ppn
  const ppn = findTorqueSlots(request.cpus, slotsPerCpu);
  const featureSuffix = request.features.map((f) => `:${f}`).join('');
  // nodes=<host>:ppn=N names the host itself; several hosts are joined with '+'
  const nodes = request.nodeList === undefined
    ? `nodes=${request.nodeCount}:ppn=${ppn}${featureSuffix}`
    : `nodes=${request.nodeList.map((host) => `${host}:ppn=${ppn}${featureSuffix}`).join('+')}`;
  const resources = [nodes];
  // TORQUE's mem is the job's total; pmem (per process) would cap the one qemu/LXC process of a part at memory/ppn
  if (request.memoryMiB !== undefined) resources.push(`mem=${request.memoryMiB * request.nodeCount}mb`);
  if (request.walltimeSeconds !== undefined) resources.push(`walltime=${formatWalltime(request.walltimeSeconds)}`);
  const args = ['-N', request.name, '-q', server === undefined ? request.queue : `${request.queue}@${server}`, '-l', resources.join(',')];
  if (request.outputPath !== undefined) args.push('-j', 'oe', '-o', request.outputPath);
  if (request.workdir !== undefined) args.push('-d', request.workdir);
  if (request.shell !== undefined) args.push('-S', request.shell);
  if (request.hold === true) args.push('-h');
  if (variables.length > 0) args.push('-v', variables.map(([name, value]) => `${name}=${value}`).join(','));
  return args;
}
