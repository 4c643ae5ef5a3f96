// VePartRecord <-> pbsveVePart entry (schema/pbs-ve.ldif), a child of its VE entry.
import type { Entry } from 'ldapts';
import { isVeState } from '../core/ve-state.js';
import { validatePart } from '../core/build-domain-name.js';
import { invalidField } from '../core/ve-error.js';
import type { VePartRecord } from './inventory.js';
import { listValue, type AttributeChange, type LdapAttributes } from './attribute-change.js';
import { formatGeneralizedTime } from './generalized-time.js';
import { readLdapEntry } from './read-ldap-entry.js';
import { validateJobId } from './validate-job-id.js';
import { validateAscii, validateCount, validateText } from './validate-inventory-field.js';

export const PART_OBJECT_CLASS = 'pbsveVePart';

export const PART_ATTRIBUTES = ['pbsveJobId', 'pbsvePart', 'pbsveState', 'pbsveSeq', 'pbsveHost', 'pbsveDomain', 'pbsveLastChange'];

// Everything but job id, part (the RDN) and seq (compare-and-swap).
function encodePartFields(record: VePartRecord): LdapAttributes {
  if (!isVeState(record.state)) throw invalidField('state', 'must be a VE state', record.state);
  return {
    pbsveState: [record.state],
    pbsveHost: listValue(validateAscii('host', record.host, { optional: true })),
    pbsveDomain: listValue(validateText('domain', record.domain, { optional: true })),
    pbsveLastChange: record.lastChange === '' ? [] : [formatGeneralizedTime(record.lastChange, 'lastChange')],
  };
}

// A new part entry; absent optional fields are left out.
export function encodePartAttributes(record: VePartRecord): LdapAttributes {
  const attributes: LdapAttributes = {
    objectClass: [PART_OBJECT_CLASS],
    pbsveJobId: [validateJobId(record.jobId)],
    pbsvePart: [String(validatePart(record.part))],
    pbsveSeq: [String(validateCount('seq', record.seq))],
  };
  for (const [type, values] of Object.entries(encodePartFields(record))) if (values.length > 0) attributes[type] = values;
  return attributes;
}

// Same compare-and-swap as a VE entry: deleting the expected seq fails when another writer was first.
export function buildPartUpdateChanges(record: VePartRecord, expectedSeq: number): AttributeChange[] {
  const changes: AttributeChange[] = [
    { operation: 'delete', type: 'pbsveSeq', values: [String(validateCount('expectedSeq', expectedSeq))] },
    { operation: 'add', type: 'pbsveSeq', values: [String(validateCount('seq', record.seq))] },
  ];
  for (const [type, values] of Object.entries(encodePartFields(record))) changes.push({ operation: 'replace', type, values });
  return changes;
}

export function decodePartEntry(entry: Entry): VePartRecord {
  const r = readLdapEntry(entry);
  return {
    jobId: r.requireString('pbsveJobId'),
    part: r.requireInteger('pbsvePart'),
    state: r.requireOneOf('pbsveState', isVeState),
    seq: r.requireInteger('pbsveSeq'),
    host: r.optionalString('pbsveHost') ?? '',
    domain: r.optionalString('pbsveDomain') ?? '',
    lastChange: r.optionalTime('pbsveLastChange') ?? '',
  };
}
