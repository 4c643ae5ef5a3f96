// HistoryRecord <-> pbsveStateChange entry, a child of its VE entry named by seq.
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import type { EventSource } from '../core/ve-event.js';
import { isVeState } from '../core/ve-state.js';
import type { HistoryRecord } from './inventory.js';
import { listValue, type LdapAttributes } from './attribute-change.js';
import { formatGeneralizedTime } from './generalized-time.js';
import { readLdapEntry } from './read-ldap-entry.js';
import { validateJobId } from './validate-job-id.js';
import { validatePart } from '../core/build-domain-name.js';
import { validateAscii, validateCount, validateText } from './validate-inventory-field.js';

export const HISTORY_OBJECT_CLASS = 'pbsveStateChange';

export const HISTORY_ATTRIBUTES = [
  'pbsveJobId', 'pbsveSeq', 'pbsveState', 'pbsveOldState', 'pbsveAt', 'pbsveHost', 'pbsveSource', 'pbsveReason', 'pbsvePart',
];

const EVENT_SOURCES: readonly EventSource[] = ['prologue', 'epilogue', 'job-body', 'mom-hook', 'reconcile', 'recovery', 'operation'];

// ve-event.ts has the type but no guard; the entry decoder needs one.
export function isEventSource(value: string): value is EventSource {
  return (EVENT_SOURCES as readonly string[]).includes(value);
}

// The attributes of one history entry; oldState, host and reason are optional.
export function encodeHistoryAttributes(record: HistoryRecord): LdapAttributes {
  if (!isVeState(record.state)) throw invalidField('state', 'must be a VE state', record.state);
  if (record.oldState !== undefined && !isVeState(record.oldState)) {
    throw invalidField('oldState', 'must be a VE state', record.oldState);
  }
  if (!isEventSource(record.source)) throw invalidField('source', `must be one of ${EVENT_SOURCES.join(', ')}`, record.source);
  const attributes: LdapAttributes = {
    objectClass: [HISTORY_OBJECT_CLASS],
    pbsveJobId: [validateJobId(record.jobId)],
    pbsveSeq: [String(validateCount('seq', record.seq))],
    pbsveState: [record.state],
    pbsveAt: [formatGeneralizedTime(record.at, 'at')],
    pbsveSource: [record.source],
  };
  if (record.oldState !== undefined) attributes['pbsveOldState'] = [record.oldState];
  const host = listValue(validateAscii('host', record.host, { optional: true }));
  if (host.length > 0) attributes['pbsveHost'] = host;
  const reason = listValue(validateText('reason', record.reason, { optional: true }));
  if (reason.length > 0) attributes['pbsveReason'] = reason;
  if (record.part !== undefined) attributes['pbsvePart'] = [String(validatePart(record.part))];
  return attributes;
}

// Source is optional in the schema but required by HistoryRecord: a record without it is reported.
export function decodeHistoryEntry(entry: Entry): HistoryRecord {
  const r = readLdapEntry(entry);
  const part = r.optionalInteger('pbsvePart');
  return {
    jobId: r.requireString('pbsveJobId'),
    seq: r.requireInteger('pbsveSeq'),
    state: r.requireOneOf('pbsveState', isVeState),
    oldState: r.optionalOneOf('pbsveOldState', isVeState),
    at: r.requireTime('pbsveAt'),
    host: r.optionalString('pbsveHost') ?? '',
    source: r.requireOneOf('pbsveSource', isEventSource),
    reason: r.optionalString('pbsveReason') ?? '',
    ...(part === undefined ? {} : { part }),
  };
}
