import { decodeEventPayload, type EventPayload } from '../events/decode-event-payload.js';
import { isHostReport } from '../events/host-report.js';
import { verifyEventLine } from '../events/sign-event-line.js';
import { VeError } from '../core/ve-error.js';
import type { HostKeyring } from '../events/host-key.js';

// Blank lines carry nothing; numbering the others lets a rejection point at its line.
export function splitEventLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

// Each line stands alone: one forged, unsigned or damaged line is refused, the rest still applied.
// A host report, like an event, must be signed by the host it names: a host speaks only for itself.
export function readEventLines(text: string, keyring: HostKeyring): (EventPayload | VeError)[] {
  return splitEventLines(text).map((line) => {
    try {
      const { payload, host } = verifyEventLine(line, keyring);
      const event = decodeEventPayload(payload);
      if (isHostReport(event)) {
        if (event.host !== host) throw new VeError('event-host-mismatch', 'prereq', `host report signed by host ${host} claims host ${event.host}`);
        return event;
      }
      if (event.host !== host) {
        throw new VeError('event-host-mismatch', 'prereq', `event line signed by host ${host} claims host ${event.host} (job ${event.jobId})`);
      }
      return event;
    } catch (err) {
      return err instanceof VeError ? err : new VeError('invalid-event', 'prereq', String(err));
    }
  });
}
