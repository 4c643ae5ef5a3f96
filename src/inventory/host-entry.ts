// HostRecord <-> pbsveHost entry.
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import { isVeType } from '../core/ve-type.js';
import { listValue, type LdapAttributes } from './attribute-change.js';
import { formatGeneralizedTime } from './generalized-time.js';
import { badEntry, readLdapEntry } from './read-ldap-entry.js';
import { isHostState, type HostRecord } from './host-inventory.js';
import { validateAscii, validateCount, validateText } from './validate-inventory-field.js';

export const HOST_OBJECT_CLASS = 'pbsveHost';
export const HOST_ATTRIBUTES = [
  'pbsveHostName', 'pbsveState', 'pbsveCpus', 'pbsveMemoryMiB', 'pbsveHypervisorType', 'pbsveLastHeartbeat', 'pbsveNote',
];

// All attributes of a host entry; empty lists mean "remove" when used as replace values.
export function encodeHostAttributes(record: HostRecord): LdapAttributes {
  if (!isHostState(record.state)) throw invalidField('state', 'must be up, down, drain, offline or unknown', record.state);
  for (const t of record.hypervisorTypes) if (!isVeType(t)) throw invalidField('hypervisorTypes', 'must be kvm or lxc', t);
  return {
    pbsveHostName: [validateAscii('name', record.name)],
    pbsveState: [record.state],
    pbsveCpus: [String(validateCount('cpus', record.cpus))],
    pbsveMemoryMiB: [String(validateCount('memoryMiB', record.memoryMiB))],
    pbsveHypervisorType: [...new Set(record.hypervisorTypes)],
    pbsveLastHeartbeat: record.lastHeartbeat === '' ? [] : [formatGeneralizedTime(record.lastHeartbeat, 'lastHeartbeat')],
    pbsveNote: listValue(validateText('note', record.note, { optional: true })),
  };
}

// Unknown numbers and times come back as 0 and '' like the record defines them.
export function decodeHostEntry(entry: Entry): HostRecord {
  const r = readLdapEntry(entry);
  const hypervisorTypes = r.strings('pbsveHypervisorType').map((t) => {
    if (!isVeType(t)) throw badEntry(r.dn, 'pbsveHypervisorType', 'has a value pbs-ve does not know', t);
    return t;
  });
  return {
    name: r.requireString('pbsveHostName'),
    state: r.requireOneOf('pbsveState', isHostState),
    cpus: r.optionalInteger('pbsveCpus') ?? 0,
    memoryMiB: r.optionalInteger('pbsveMemoryMiB') ?? 0,
    hypervisorTypes,
    lastHeartbeat: r.optionalTime('pbsveLastHeartbeat') ?? '',
    note: r.optionalString('pbsveNote') ?? '',
  };
}
