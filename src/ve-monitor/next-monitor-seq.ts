import { HOST_SEQ_STEP } from '../events/next-event-seq.js';

/**
 * The seq of the monitor's next guess about a VE (lost, unknown, host back, requeued): the next number
 * above `seq` that is not a host slot (a multiple of HOST_SEQ_STEP), so a guess never takes the seq the
 * host's own next event will carry; with HOST_SEQ_STEP 16, 15 guesses in a row stay below it.
 */
export function nextMonitorSeq(seq: number): number {
  let next = seq + 1;
  while (next % HOST_SEQ_STEP === 0) next++;
  return next;
}
