// The one in-memory event sink of the unit tests: what hooks emit or record is kept in order; nothing is sent.
import type { EventSink } from '../../src/events/event-sink.js';
import type { HostReport } from '../../src/events/host-report.js';
import type { VeEvent } from '../../src/core/ve-event.js';

export interface FakeEventSink extends EventSink {
  readonly events: VeEvent[];
  readonly hostReports: HostReport[];
}

export function createFakeEventSink<T extends Partial<EventSink>>(overrides: T = {} as T): FakeEventSink & NoInfer<T> {
  const events: VeEvent[] = [];
  const hostReports: HostReport[] = [];
  const kept = (e: readonly VeEvent[]): Promise<{ sent: number; pending: number }> => {
    events.push(...e);
    return Promise.resolve({ sent: 0, pending: events.length });
  };
  const base: FakeEventSink = {
    events, hostReports,
    emit: kept,
    // record goes through emit, so a test that scripts emit sees recorded events too
    record: (e) => base.emit(e),
    flush: () => Promise.resolve({ sent: 0, pending: events.length }),
    recordHostReport: (report) => { hostReports.push(report); },
    confirmSent: () => Promise.resolve({ delivered: 0, undelivered: 0, waiting: 0 }),
  };
  return Object.assign(base, overrides);
}
