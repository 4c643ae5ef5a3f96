// The port's SubmitRequest as sbatch options; every hostile string is checked here, before Slurm sees it.
import { invalidField } from '../core/ve-error.js';
import type { SubmitRequest } from './batch.js';

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** the port's rule: --export splits on commas and '=' and does not unquote */
const VARIABLE_VALUE = /^[A-Za-z0-9_.:/@+-]*$/;
const SLURM_WORD = /^[A-Za-z0-9_.-]+$/;
const SLURM_HOST = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

// Slurm's own duration spelling, so no unit ambiguity ("60" would be minutes).
export function formatSlurmDuration(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const rest = seconds % 86_400;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${days}-${pad(Math.floor(rest / 3600))}:${pad(Math.floor((rest % 3600) / 60))}:${pad(rest % 60)}`;
}

// Whole, positive and sane, or the request is refused naming the field.
function checkCount(field: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalidField(field, `must be a whole number from 1 to ${max}`, value);
  }
}

// One plain host name per node: a comma or bracket range would let the request name other hosts.
function checkNodeList(nodeList: readonly string[], nodeCount: number): readonly string[] {
  if (nodeList.length !== nodeCount) throw invalidField('nodeList', `must name exactly ${nodeCount} host(s), one per node`, nodeList);
  for (const node of nodeList) {
    if (!SLURM_HOST.test(node)) throw invalidField('nodeList', 'each must be one plain host name', node);
  }
  if (new Set(nodeList).size !== nodeList.length) throw invalidField('nodeList', 'must not name a host twice', nodeList);
  return nodeList;
}

// The --export list: NONE so the submitter's environment never leaks into the job (Slurm then loads the
// job user's login environment, PATH included, as --get-user-env does), plus the request's variables.
export function buildSlurmExport(variables: Readonly<Record<string, string>>): string {
  const parts = ['NONE'];
  for (const [name, value] of Object.entries(variables)) {
    if (!VARIABLE_NAME.test(name)) throw invalidField(`variables.${name}`, 'name must match [A-Za-z_][A-Za-z0-9_]*', name);
    if (!VARIABLE_VALUE.test(value)) {
      throw invalidField(`variables.${name}`, 'value may hold only letters, digits and _ . : / @ + - (no commas, quotes or =)', value);
    }
    parts.push(`${name}=${value}`);
  }
  return parts.join(',');
}

// ALL of sbatch's own environment, which run-command keeps minimal (PATH, LANG, SLURM_CONF): any other
// --export value makes sbatch ask slurmd to load the owner's login environment (SLURM_GET_USER_ENV).
function buildBareExport(variables: Readonly<Record<string, string>>): string {
  if (Object.keys(variables).length > 0) throw invalidField('variables', 'must be empty for a job without a login environment (loginEnvironment: false)', Object.keys(variables));
  return 'ALL';
}

// Refuses what Slurm would misread (comma lists, constraint operators, control characters) and builds argv.
export function buildSlurmSbatchArgs(request: SubmitRequest): string[] {
  if (!request.script.startsWith('#!')) throw invalidField('script', 'must start with #!');
  if (!SLURM_WORD.test(request.queue)) throw invalidField('queue', 'must be one partition name', request.queue);
  if (CONTROL_CHARS.test(request.name)) throw invalidField('name', 'must not contain control characters', request.name);
  if (request.cpus !== 0) checkCount('cpus', request.cpus, 4096);
  checkCount('nodeCount', request.nodeCount, 4096);
  const args = [
    '--parsable',
    `--job-name=${request.name}`,
    `--partition=${request.queue}`,
    `--nodes=${request.nodeCount}`,
    // one task per node: with --ntasks=1 Slurm silently cuts a multi-node request to one node
    `--ntasks=${request.nodeCount}`,
    ...(request.nodeCount > 1 ? ['--ntasks-per-node=1'] : []),
    // 0 cpus (an operation on a VE that holds its own) is one cpu of the op partition's room: Slurm has no smaller share
    `--cpus-per-task=${Math.max(1, request.cpus)}`,
  ];
  if (request.memoryMiB !== undefined) {
    checkCount('memoryMiB', request.memoryMiB, 1024 * 1024 * 1024);
    args.push(`--mem=${request.memoryMiB}M`);
  }
  if (request.walltimeSeconds !== undefined) {
    checkCount('walltimeSeconds', request.walltimeSeconds, 100 * 365 * 86_400);
    args.push(`--time=${formatSlurmDuration(request.walltimeSeconds)}`);
  }
  if (request.features.length > 0) {
    for (const feature of request.features) {
      if (!SLURM_WORD.test(feature)) throw invalidField('features', 'each feature must be a plain word', feature);
    }
    args.push(`--constraint=${request.features.join('&')}`);
  }
  if (request.nodeList !== undefined) args.push(`--nodelist=${checkNodeList(request.nodeList, request.nodeCount).join(',')}`);
  args.push(`--export=${request.loginEnvironment === false ? buildBareExport(request.variables) : buildSlurmExport(request.variables)}`);
  if (request.hold === true) args.push('--hold');
  if (request.comment !== undefined) {
    if (request.comment.includes('\u0000')) throw invalidField('comment', 'must not contain NUL');
    args.push(`--comment=${request.comment}`);
  }
  if (request.outputPath !== undefined) {
    if (!request.outputPath.startsWith('/') || CONTROL_CHARS.test(request.outputPath)) {
      throw invalidField('outputPath', 'must be an absolute path without control characters', request.outputPath);
    }
    args.push(`--output=${request.outputPath}`);
  }
  if (request.workdir !== undefined) {
    if (!request.workdir.startsWith('/') || CONTROL_CHARS.test(request.workdir)) {
      throw invalidField('workdir', 'must be an absolute path without control characters', request.workdir);
    }
    args.push(`--chdir=${request.workdir}`);
  }
  return args;
}
