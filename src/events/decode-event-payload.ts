// A signed line's payload is a VE event or, when it says kind "host-report", a host report.
import { VeError } from '../core/ve-error.js';
import { decodeVeEvent } from './encode-ve-event.js';
import { HOST_REPORT_KIND, decodeHostReportObject, type HostReport } from './host-report.js';
import type { VeEvent } from '../core/ve-event.js';

export type EventPayload = VeEvent | HostReport;

// Events carry no "kind": they keep decoding exactly as before; only a host report names its kind.
export function decodeEventPayload(payload: string): EventPayload {
  if (payload.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(payload)) return decodeVeEvent(payload);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch (err) {
    throw new VeError('invalid-event', 'prereq', 'event: not JSON', { cause: err });
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'kind' in parsed) {
    if (parsed.kind !== HOST_REPORT_KIND) throw new VeError('invalid-event', 'prereq', `signed line of unknown kind ${JSON.stringify(parsed.kind)?.slice(0, 40) ?? ''}`);
    return decodeHostReportObject(parsed);
  }
  return decodeVeEvent(payload);
}
