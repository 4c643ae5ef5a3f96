import { decodeVeEvent } from '../events/encode-ve-event.js';
import { verifyEventLine } from '../events/sign-event-line.js';
import { VeError } from '../core/ve-error.js';
import type { HostKeyring } from '../events/host-key.js';
import type { VeEvent } from '../core/ve-event.js';

// Blank lines carry nothing; numbering the others lets a rejection point at its line.
export function splitEventLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

// Each line stands alone: one forged, unsigned or damaged line is refused, the rest still applied.
export function readEventLines(text: string, keyring: HostKeyring): (VeEvent | VeError)[] {
  return splitEventLines(text).map((line) => {
    try {
      const { payload, host } = verifyEventLine(line, keyring);
      const event = decodeVeEvent(payload);
      if (event.host !== host) {
        throw new VeError('event-host-mismatch', 'prereq', `event line signed by host ${host} claims host ${event.host} (job ${event.jobId})`);
      }
      return event;
    } catch (err) {
      return err instanceof VeError ? err : new VeError('invalid-event', 'prereq', String(err));
    }
  });
}
