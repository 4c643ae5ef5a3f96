// TORQUE clients report everything through text and pbs_errno & 255 as exit code; callers need a VeError kind.
import type { CommandResult } from '../core/run-command.js';
import { VeError } from '../core/ve-error.js';

// Wording seen from TORQUE 4-6 clients when pbs_server or trqauthd is not there (errno 111, 15137 ...).
const UNREACHABLE =
  /cannot connect to (?:server|default server host|specified server host)|Unable to communicate with|could not connect to trqauthd|Communication failure|Access from host not allowed|premature end of message/i;
const ROOT_SUBMIT = /can ?not be run as root/i;
const SUBMIT_REFUSED = /submit error|Unknown queue|exceeds queue resource limits|Illegal attribute or resource value|Unknown resource/i;
const UNKNOWN_JOB = /Unknown Job Id|nonexistent job id/i;
const UNAUTHORIZED = /Unauthorized Request/i;
/** PBSE_MAXUSERQUED (pbs_error_db.h) and the server's log text: the queue's max_user_queuable */
const USER_LIMIT = /Maximum number of jobs already in queue for user|current user's jobs exceeds the queue limit/i;
const ECONNREFUSED_RC = 111;
const PBSE_UNKJOBID_RC = 153;
const PBSE_UNKQUE_RC = 172;
const PBSE_EXCQRESC_RC = 190;
const MAX_SHOWN = 600;

// Both streams matter: TORQUE prints its errors on stderr, but wrappers and old clients used stdout.
function readOutput(result: CommandResult): string {
  return `${result.stderr}\n${result.stdout}`.replace(/\s+/g, ' ').trim().slice(0, MAX_SHOWN);
}

// qstat/qdel/qrerun say "Unknown Job Id" (rc 153) for jobs the server has already forgotten.
export function isTorqueUnknownJob(result: CommandResult): boolean {
  return result.exitCode === PBSE_UNKJOBID_RC || UNKNOWN_JOB.test(`${result.stderr}\n${result.stdout}`);
}

// The one place that decides retry-or-not for a failed TORQUE client call.
export function classifyTorqueFailure(command: string, args: readonly string[], result: CommandResult): VeError {
  const output = readOutput(result);
  const details = { command, args, exitCode: result.exitCode, output };
  if (command === 'qsub' && ROOT_SUBMIT.test(output)) {
    return new VeError(
      'torque-root-submit',
      'prereq',
      `qsub refused to run as root ("${output}"): TORQUE never accepts jobs submitted by root; submit as the VE owner (for example runuser -u <user> -- ...)`,
      { details },
    );
  }
  if (UNREACHABLE.test(output) || result.exitCode === ECONNREFUSED_RC) {
    return new VeError('batch-unavailable', 'environment', `${command}: the TORQUE server cannot be reached: ${output}`, { details });
  }
  if (command === 'qsub' && USER_LIMIT.test(output)) {
    return new VeError('user-limit-reached', 'prereq', `you hold as many VEs as the VE queue allows per user (TORQUE max_user_queuable); destroy one of yours first (TORQUE: ${output})`, { details });
  }
  if (command === 'qsub' && (result.exitCode === PBSE_UNKQUE_RC || result.exitCode === PBSE_EXCQRESC_RC || SUBMIT_REFUSED.test(output))) {
    return new VeError('batch-rejected', 'prereq', `TORQUE rejected the job: ${output}`, { details });
  }
  if (UNAUTHORIZED.test(output)) {
    return new VeError('batch-unauthorized', 'exec', `${command} ${args.join(' ')} failed (exit ${result.exitCode}): the TORQUE server refused it to this account at this host: ${output} (the rights pbs-ve's own accounts need: docs/admin-torque.md, step S)`, { details });
  }
  return new VeError('batch-command-failed', 'exec', `${command} ${args.join(' ')} failed (exit ${result.exitCode}): ${output}`, { details });
}
