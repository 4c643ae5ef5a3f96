// A TORQUE prologue/epilogue learns about its job only from argv; the layout differs by script kind.
import type { PelogContext } from './batch.js';
import { buildTorqueJobResources, parseTorqueResourceList, parseTorqueWalltime } from './parse-torque-resources.js';
import { isTorqueJobId } from './torque-job-id.js';
import { VeError } from '../core/ve-error.js';

export type TorquePelogKind = 'prologue' | 'epilogue' | 'prologue.parallel' | 'epilogue.parallel' | 'epilogue.precancel';

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/;
const QUEUE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

// The mom runs this as root with arguments built from user input: every argument is checked before use.
function argvError(kind: TorquePelogKind, problem: string): VeError {
  return new VeError('torque-pelog-argv', 'prereq', `TORQUE ${kind} arguments: ${problem}`);
}

/**
 * `argv` is the script's own arguments ($1 ...), i.e. process.argv.slice(2) of the pelog entry point.
 * prologue*: $1 jobid $2 user $3 group $4 jobname $5 resource list $6 queue $7 account [$8 script (6.1)].
 * epilogue*: $1 jobid $2 user $3 group $4 jobname $5 session $6 requested $7 used $8 queue $9 account
 *            $10 exit status [$11 script (6.1)].
 * `env` is the pelog's (nearly empty) environment: PBS_RESOURCE_NODES fills in a resource list without nodes.
 * `slotsPerCpu`: TORQUE slots per pbs-ve cpu (the config's batch.slotsPerCpu).
 */
// The layout was taken from a real TORQUE 6.1 mom (test/fixtures/torque/pelog/), not from the manual.
export function readTorquePelogContext(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  kind: TorquePelogKind,
  hostname: string,
  slotsPerCpu = 1,
): PelogContext {
  const epilogue = kind.startsWith('epilogue');
  const minimum = epilogue ? 10 : 7;
  if (argv.length < minimum) {
    throw argvError(kind, `expected at least ${minimum} arguments, got ${argv.length} (is this script installed as mom_priv/${kind}?)`);
  }
  const arg = (n: number): string => argv[n - 1] ?? '';
  const jobId = arg(1);
  if (!isTorqueJobId(jobId)) throw argvError(kind, `$1 is not a TORQUE job id (got ${JSON.stringify(jobId.slice(0, 80))})`);
  const user = arg(2);
  if (!USER.test(user)) throw argvError(kind, `$2 is not a user name (got ${JSON.stringify(user.slice(0, 80))})`);
  const group = arg(3);
  if (group !== '' && !USER.test(group)) throw argvError(kind, `$3 is not a group name (got ${JSON.stringify(group.slice(0, 80))})`);
  const jobName = arg(4);
  if (CONTROL.test(jobName) || jobName.length > 256) throw argvError(kind, '$4 (job name) holds control characters or is too long');
  const requested = epilogue ? arg(6) : arg(5);
  const queue = epilogue ? arg(8) : arg(6);
  if (queue !== '' && !QUEUE.test(queue)) throw argvError(kind, `queue argument is not a queue name (got ${JSON.stringify(queue.slice(0, 80))})`);
  const scriptPath = epilogue ? arg(11) : arg(8);
  if (scriptPath !== '' && (!scriptPath.startsWith('/') || CONTROL.test(scriptPath) || scriptPath.includes('/../'))) {
    throw argvError(kind, `script path argument is not an absolute path (got ${JSON.stringify(scriptPath.slice(0, 200))})`);
  }
  let exitStatus: number | undefined;
  if (epilogue) {
    if (!/^-?[0-9]{1,10}$/.test(arg(5))) throw argvError(kind, `$5 is not a session id (got ${JSON.stringify(arg(5).slice(0, 80))})`);
    if (!/^-?[0-9]{1,10}$/.test(arg(10))) throw argvError(kind, `$10 is not an exit status (got ${JSON.stringify(arg(10).slice(0, 80))})`);
    exitStatus = Number(arg(10));
  }
  if (!HOST.test(hostname)) throw argvError(kind, `host name ${JSON.stringify(hostname.slice(0, 80))} is not a host name`);
  return {
    jobId,
    user,
    group: group === '' ? undefined : group,
    jobName: jobName === '' ? undefined : jobName,
    queue: queue === '' ? undefined : queue,
    host: hostname,
    scriptPath: scriptPath === '' ? undefined : scriptPath,
    exitStatus,
    resources: readRequestedResources(kind, requested, env.PBS_RESOURCE_NODES, slotsPerCpu),
    sister: kind.endsWith('.parallel'),
    ...(epilogue ? readUsedWalltime(arg(7)) : {}),
  };
}

// $7 of an epilogue (cput=...,walltime=00:00:25,...): on a sister the only local sign that the lease ran out.
function readUsedWalltime(used: string): { usedWalltimeSeconds?: number } {
  try {
    const walltime = parseTorqueResourceList(used).walltime;
    return walltime === undefined ? {} : { usedWalltimeSeconds: parseTorqueWalltime(walltime) };
  } catch {
    // the used resources only colour the reason the VE ended: never a reason to refuse the epilogue
    return {};
  }
}

// A resource list TORQUE cannot have written means the argv is not what we think it is.
function readRequestedResources(kind: TorquePelogKind, requested: string, envNodes: string | undefined, slotsPerCpu: number): PelogContext['resources'] {
  let list: Record<string, string>;
  try {
    list = parseTorqueResourceList(requested);
    if (list.nodes === undefined && list.neednodes === undefined && envNodes !== undefined && envNodes !== '') {
      list = { ...list, nodes: envNodes };
    }
    if (Object.keys(list).length === 0) return undefined;
    return buildTorqueJobResources(list, slotsPerCpu);
  } catch (err) {
    throw new VeError('torque-pelog-argv', 'prereq', `TORQUE ${kind} arguments: requested resources: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
