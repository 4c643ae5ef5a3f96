import { decodeVeEvent } from '../events/encode-ve-event.js';
import { VeError } from '../core/ve-error.js';
import type { VeEvent } from '../core/ve-event.js';

// Each line stands alone: one forged or damaged line is reported, the rest still applied.
export function readEventLines(text: string): (VeEvent | VeError)[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((line) => {
    try {
      return decodeVeEvent(line);
    } catch (err) {
      return err instanceof VeError ? err : new VeError('invalid-event', 'prereq', String(err));
    }
  });
}
