// VeRecord <-> pbsveVirtualEnvironment entry (schema/pbs-ve.ldif).
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import { isVeState } from '../core/ve-state.js';
import { isVeType } from '../core/ve-type.js';
import type { VeRecord } from './inventory.js';
import { listValue, type AttributeChange, type LdapAttributes } from './attribute-change.js';
import { formatGeneralizedTime } from './generalized-time.js';
import { readLdapEntry } from './read-ldap-entry.js';
import { validateJobId } from './validate-job-id.js';
import { validateAscii, validateCount, validateText } from './validate-inventory-field.js';
import { IPV4_PATTERN, MAC_PATTERN, type VeNic } from '../core/ve-nic.js';
import { NETWORK_NAME_PATTERN } from '../core/validate-ve-spec.js';

export const VE_OBJECT_CLASS = 'pbsveVirtualEnvironment';

/** the attributes a search asks for; pbsveMac/pbsveIp are written for searching, read back from pbsveInterface */
export const VE_ATTRIBUTES = [
  'pbsveJobId', 'pbsveName', 'pbsveOwner', 'pbsveType', 'pbsveState', 'pbsveSeq', 'pbsveImage',
  'pbsveVcpus', 'pbsveMemoryMiB', 'pbsveHost', 'pbsveDomain', 'pbsveLastChange', 'pbsveNodes', 'pbsveInterface',
  'pbsveCluster', 'pbsveRole',
];

const INTERFACE_VALUE = /^nic(\d{1,2}) ([a-z][a-z0-9-]{0,30}) ([0-9a-f:]{17})(?: ([0-9.]{7,15}))?$/;

// One value per NIC that keeps its order and its parts together (LDAP values are unordered).
export function encodeInterfaceValue(nic: VeNic, index: number): string {
  if (!NETWORK_NAME_PATTERN.test(nic.network)) throw invalidField('nics.network', 'must be a network name', nic.network);
  if (!MAC_PATTERN.test(nic.mac)) throw invalidField('nics.mac', 'must be a lower-case MAC address', nic.mac);
  if (nic.ip !== undefined && !IPV4_PATTERN.test(nic.ip)) throw invalidField('nics.ip', 'must be an IPv4 address', nic.ip);
  return `nic${index} ${nic.network} ${nic.mac}${nic.ip === undefined ? '' : ` ${nic.ip}`}`;
}

// Values someone else wrote are skipped when malformed: one bad value must not hide the VE.
export function decodeInterfaceValues(values: readonly string[]): VeNic[] {
  const parsed = values.map((v) => INTERFACE_VALUE.exec(v.toLowerCase())).filter((m): m is RegExpExecArray => m !== null)
    .filter((m) => MAC_PATTERN.test(m[3] ?? '') && (m[4] === undefined || IPV4_PATTERN.test(m[4])));
  return parsed.sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => ({ network: m[2] ?? '', mac: m[3] ?? '', ...(m[4] === undefined ? {} : { ip: m[4] }) }));
}

// Only a record that knows its NICs writes them, so an update without NICs keeps the stored ones.
function encodeNicFields(nics: readonly VeNic[] | undefined): LdapAttributes {
  if (nics === undefined) return {};
  return {
    pbsveInterface: nics.map(encodeInterfaceValue),
    pbsveMac: nics.map((n) => n.mac),
    pbsveIp: nics.flatMap((n) => (n.ip === undefined ? [] : [n.ip])),
  };
}

// Everything but the job id and seq, which updateVe treats specially (RDN and compare-and-swap).
function encodeVeFields(record: VeRecord): LdapAttributes {
  if (!isVeType(record.type)) throw invalidField('type', 'must be kvm or lxc', record.type);
  if (!isVeState(record.state)) throw invalidField('state', 'must be a VE state', record.state);
  return {
    pbsveName: [validateText('name', record.name)],
    pbsveOwner: [validateText('owner', record.owner)],
    pbsveType: [record.type],
    pbsveState: [record.state],
    pbsveImage: listValue(validateText('image', record.image, { optional: true })),
    pbsveVcpus: [String(validateCount('vcpus', record.vcpus))],
    pbsveMemoryMiB: [String(validateCount('memoryMiB', record.memoryMiB))],
    pbsveHost: listValue(validateAscii('host', record.host, { optional: true })),
    pbsveDomain: listValue(validateText('domain', record.domain, { optional: true })),
    pbsveLastChange: record.lastChange === '' ? [] : [formatGeneralizedTime(record.lastChange, 'lastChange')],
    // only multi-node VEs carry it, so single-node entries (and servers with the older schema) never see it
    ...(record.nodes !== undefined && record.nodes > 1 ? { pbsveNodes: [String(validateCount('nodes', record.nodes))] } : {}),
    ...encodeNicFields(record.nics),
    // only members of a virtual cluster carry them (servers with a schema before 1.70 never see them)
    ...(record.cluster === undefined ? {} : { pbsveCluster: [validateText('cluster.name', record.cluster.name)], pbsveRole: [validateText('cluster.role', record.cluster.role)] }),
  };
}

// The attributes of a new VE entry; absent optional fields are left out (LDAP has no empty values).
export function encodeVeAttributes(record: VeRecord): LdapAttributes {
  const fields = encodeVeFields(record);
  const attributes: LdapAttributes = {
    objectClass: [VE_OBJECT_CLASS],
    pbsveJobId: [validateJobId(record.jobId)],
    pbsveSeq: [String(validateCount('seq', record.seq))],
  };
  for (const [type, values] of Object.entries(fields)) if (values.length > 0) attributes[type] = values;
  return attributes;
}

// One modify that only succeeds while the stored seq is still expectedSeq: deleting a value that is
// not there fails the whole modify with noSuchAttribute, so nothing is written on a stale update.
export function buildVeUpdateChanges(record: VeRecord, expectedSeq: number): AttributeChange[] {
  validateJobId(record.jobId);
  const newSeq = validateCount('seq', record.seq);
  const oldSeq = validateCount('expectedSeq', expectedSeq);
  const changes: AttributeChange[] = [
    { operation: 'delete', type: 'pbsveSeq', values: [String(oldSeq)] },
    { operation: 'add', type: 'pbsveSeq', values: [String(newSeq)] },
  ];
  for (const [type, values] of Object.entries(encodeVeFields(record))) {
    changes.push({ operation: 'replace', type, values });
  }
  return changes;
}

// Absent optional attributes become the record's "unknown" values ('' and 0) as the port defines them.
export function decodeVeEntry(entry: Entry): VeRecord {
  const r = readLdapEntry(entry);
  const nodes = r.optionalInteger('pbsveNodes');
  const interfaces = r.strings('pbsveInterface');
  const clusterName = r.optionalString('pbsveCluster');
  const role = r.optionalString('pbsveRole');
  return {
    jobId: r.requireString('pbsveJobId'),
    name: r.requireString('pbsveName'),
    owner: r.requireString('pbsveOwner'),
    type: r.requireOneOf('pbsveType', isVeType),
    state: r.requireOneOf('pbsveState', isVeState),
    seq: r.requireInteger('pbsveSeq'),
    image: r.optionalString('pbsveImage') ?? '',
    vcpus: r.optionalInteger('pbsveVcpus') ?? 0,
    memoryMiB: r.optionalInteger('pbsveMemoryMiB') ?? 0,
    host: r.optionalString('pbsveHost') ?? '',
    domain: r.optionalString('pbsveDomain') ?? '',
    lastChange: r.optionalTime('pbsveLastChange') ?? '',
    ...(nodes !== undefined && nodes > 1 ? { nodes } : {}),
    ...(interfaces.length === 0 ? {} : { nics: decodeInterfaceValues(interfaces) }),
    ...(clusterName === undefined ? {} : { cluster: { name: clusterName, role: role ?? '' } }),
  };
}
