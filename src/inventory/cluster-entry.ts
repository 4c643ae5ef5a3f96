// ClusterRecord <-> pbsveVirtualCluster entry (schema/pbs-ve.ldif).
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import { CLUSTER_NAME_PATTERN, HOSTNAME_PATTERN, ROLE_NAME_PATTERN } from '../core/validate-ve-spec.js';
import { IPV4_PATTERN } from '../core/ve-nic.js';
import { escapeDnValue } from './escape-dn-value.js';
import { VES_RDN } from './build-inventory-dn.js';
import { formatGeneralizedTime, parseGeneralizedTime } from './generalized-time.js';
import { readLdapEntry } from './read-ldap-entry.js';
import { validateCount, validateText } from './validate-inventory-field.js';
import type { LdapAttributes } from './attribute-change.js';
import type { ClusterHistoryRecord, ClusterMemberRecord, ClusterRecord, ClusterState } from './cluster-inventory.js';

export const CLUSTER_OBJECT_CLASS = 'pbsveVirtualCluster';
export const CLUSTER_ATTRIBUTES = ['pbsveClusterId', 'pbsveCluster', 'pbsveOwner', 'pbsveState', 'pbsveSeq', 'pbsveManifest', 'pbsveMember', 'pbsveClusterHistory', 'pbsveCreatedAt', 'pbsveLeaseSeconds', 'pbsveLastChange'];
const JOB_ID = /^[0-9A-Za-z_.[\]-]{1,128}$/;
const MEMBER_VALUE = /^(\S+) (\S+) (\S+) (\S+)$/;
const HISTORY_VALUE = /^(\d{1,16}) (\S+) (up|down) (.*)$/s;

const isClusterState = (v: string): v is ClusterState => v === 'up' || v === 'down';

// Each owner names clusters for themselves: the owner is part of the entry's name.
export function buildClusterDn(baseDn: string, owner: string, name: string): string {
  if (!CLUSTER_NAME_PATTERN.test(name)) throw invalidField('cluster', 'must be a cluster name', name);
  return `pbsveClusterId=${escapeDnValue(`${name}.${validateText('owner', owner)}`)},${VES_RDN},${baseDn}`;
}

// One value per member keeps its parts together (LDAP values are unordered; members sort by name).
function encodeMember(m: ClusterMemberRecord): string {
  if (!HOSTNAME_PATTERN.test(m.name) || !ROLE_NAME_PATTERN.test(m.role) || !IPV4_PATTERN.test(m.address) || (m.jobId !== '' && !JOB_ID.test(m.jobId))) {
    throw invalidField('members', 'each must have a member name, role, IPv4 address and job id', m);
  }
  return `${m.name} ${m.role} ${m.address} ${m.jobId === '' ? '-' : m.jobId}`;
}

function encodeHistory(h: ClusterHistoryRecord): string {
  return `${validateCount('history.seq', h.seq)} ${new Date(h.at).toISOString()} ${h.state} ${h.reason.replace(/[\r\n]+/g, ' ')}`;
}

export function encodeClusterAttributes(r: ClusterRecord): LdapAttributes {
  if (!CLUSTER_NAME_PATTERN.test(r.name)) throw invalidField('cluster', 'must be a cluster name', r.name);
  if (!isClusterState(r.state)) throw invalidField('state', 'must be up or down', r.state);
  return {
    objectClass: [CLUSTER_OBJECT_CLASS],
    pbsveClusterId: [`${r.name}.${validateText('owner', r.owner)}`],
    pbsveCluster: [r.name],
    pbsveOwner: [r.owner],
    pbsveState: [r.state],
    pbsveSeq: [String(validateCount('seq', r.seq))],
    pbsveManifest: [validateText('manifest', r.manifest)],
    pbsveMember: r.members.map(encodeMember),
    pbsveClusterHistory: r.history.map(encodeHistory),
    pbsveCreatedAt: [formatGeneralizedTime(r.createdAt, 'createdAt')],
    pbsveLeaseSeconds: [String(validateCount('leaseSeconds', r.leaseSeconds))],
    pbsveLastChange: [formatGeneralizedTime(r.lastChange, 'lastChange')],
  };
}

// Values someone else wrote are skipped when malformed: one bad value must not hide the cluster.
export function decodeClusterEntry(entry: Entry): ClusterRecord {
  const e = readLdapEntry(entry);
  const members = e.strings('pbsveMember').map((v) => MEMBER_VALUE.exec(v)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] ?? '', role: m[2] ?? '', address: m[3] ?? '', jobId: m[4] === '-' ? '' : m[4] ?? '' }))
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const history = e.strings('pbsveClusterHistory').map((v) => HISTORY_VALUE.exec(v)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seq: Number(m[1]), at: m[2] ?? '', state: (m[3] ?? 'up') as ClusterState, reason: m[4] ?? '' }))
    .sort((a, b) => a.seq - b.seq);
  return {
    owner: e.requireString('pbsveOwner'),
    name: e.requireString('pbsveCluster'),
    state: e.requireOneOf('pbsveState', isClusterState),
    seq: e.requireInteger('pbsveSeq'),
    createdAt: parseGeneralizedTime(e.optionalString('pbsveCreatedAt') ?? '') ?? '',
    leaseSeconds: e.optionalInteger('pbsveLeaseSeconds') ?? 0,
    manifest: e.optionalString('pbsveManifest') ?? '{}',
    members,
    history,
    lastChange: parseGeneralizedTime(e.optionalString('pbsveLastChange') ?? '') ?? '',
  };
}
