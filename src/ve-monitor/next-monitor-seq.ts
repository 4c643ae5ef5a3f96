import { VeError } from '../core/ve-error.js';
import { HOST_SEQ_STEP, MAX_EVENT_SEQ } from '../events/next-event-seq.js';

/**
 * The seq of the monitor's next guess about a VE (lost, unknown, host back, requeued): the next number
 * above `seq` that is not a host slot (a multiple of HOST_SEQ_STEP), so a guess never takes the seq the
 * host's own next event will carry; with HOST_SEQ_STEP 16, 15 guesses in a row stay below it.
 * Plain arithmetic, no loop: a seq from LDAP is bounded first, so n + 1 is always a new number.
 */
export function nextMonitorSeq(seq: number): number {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_EVENT_SEQ) {
    throw new VeError('seq-out-of-range', 'prereq', `seq must be a whole number from 0 to ${MAX_EVENT_SEQ} (got ${String(seq)})`, { field: 'seq' });
  }
  const next = seq + 1;
  return next % HOST_SEQ_STEP === 0 ? next + 1 : next;
}
