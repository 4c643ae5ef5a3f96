// Why a queued VE job waits, in words a user acts on, with the batch system's own words kept.
import { describeSlurmLimit, isSlurmLimitCode } from './describe-slurm-limit.js';

const SLURM_REASONS: readonly [RegExp, string][] = [
  [/^Resources$/, 'no host with the VE\'s type (node feature) has enough free cpus or memory now'],
  [/^Priority$/, 'other jobs are ahead of it in the queue'],
  [/^PartitionDown$|^PartitionInactive$/, 'the VE queue is stopped by the administrators'],
  [/^ReqNodeNotAvail|^NodeDown$/, 'the hosts it may run on are drained, offline or down'],
  [/^BadConstraints$/, 'no host offers the VE\'s type (node feature) and size; it will not start'],
  [/^JobHeldUser$/, 'held by its owner (scontrol release)'],
  [/^JobHeldAdmin$/, 'held by an administrator'],
  [/^BeginTime$/, 'its start time has not come yet'],
  [/^Dependency/, 'it waits for another job'],
  [/^(QOS|Assoc)?Max.*PerUser|PerAccount|Limit$/, 'a per-user or queue limit is reached; it starts when one of your VEs ends'],
  [/^launch failed requeued held$/, 'held after failed starts (a host fault); an administrator must release it'],
];

/** Slurm's Reason of a pending job; undefined for "None" (not waiting for anything in particular). */
export function explainSlurmWaitReason(reason: string): string | undefined {
  const code = reason.trim();
  if (code === '' || code === 'None') return undefined;
  if (isSlurmLimitCode(code)) return `your VEs reached ${describeSlurmLimit(code)}; it starts when one of your VEs ends`;
  const known = SLURM_REASONS.find(([pattern]) => pattern.test(code));
  return known === undefined ? `Slurm: ${code}` : `${known[1]} (Slurm: ${code})`;
}

/** TORQUE says it in the job comment the scheduler sets ("Not Running: ..."); a held job in Hold_Types. */
export function explainTorqueWaitReason(comment: string | undefined, holdTypes: string | undefined): string {
  const holds = (holdTypes ?? 'n').replace(/n/g, '');
  if (holds !== '') {
    const who = Array.from(holds.matchAll(/./g), (m) => m[0]).map((h) => (h === 'u' ? 'its owner' : h === 'o' ? 'an operator' : h === 's' ? 'the system' : h)).join(', ');
    return `held by ${who} (TORQUE Hold_Types ${holds})`;
  }
  const text = (comment ?? '').trim();
  if (text === '') return 'queued; the scheduler has not looked at it yet';
  if (/not enough of the right type of nodes|insufficient|nodes? (are )?(busy|unavailable)/i.test(text)) return `no host with the VE's type has enough free cpus or memory now (TORQUE: ${text})`;
  if (/max_user_run|user.*limit|maximum number of jobs/i.test(text)) return `a per-user limit is reached; it starts when one of your VEs ends (TORQUE: ${text})`;
  return `TORQUE: ${text}`;
}
