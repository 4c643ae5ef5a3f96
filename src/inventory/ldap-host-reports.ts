// Host reports (orphan domains) on the pbsveHost entries, for the Inventory port on OpenLDAP.
import { AndFilter, EqualityFilter, PresenceFilter } from 'ldapts';
import { buildHostDn, HOSTS_RDN } from './build-inventory-dn.js';
import { HOST_OBJECT_CLASS } from './host-entry.js';
import { HOST_REPORT_ATTRIBUTES, decodeHostReportEntry, encodeHostFactsAttributes, encodeHostReportAttributes } from './host-report-entry.js';
import { readLdapEntry } from './read-ldap-entry.js';
import { toLdaptsChanges, type LdapConnection } from './ldap-connection.js';
import { LDAP_ALREADY_EXISTS, LDAP_NO_SUCH_ATTRIBUTE, LDAP_NO_SUCH_OBJECT, ldapResultCode } from './translate-ldap-error.js';
import { validateAscii } from './validate-inventory-field.js';
import { VeError } from '../core/ve-error.js';
import type { AttributeChange } from './attribute-change.js';
import type { HostReport } from '../events/host-report.js';

const LDAP_CONSTRAINT_VIOLATION = 19;
const LDAP_VALUE_EXISTS = 20;
const MAX_CAS_RETRIES = 20;
const hostFilter = (): EqualityFilter => new EqualityFilter({ attribute: 'objectClass', value: HOST_OBJECT_CLASS });

export interface LdapHostReports {
  readonly putHostReport: (report: HostReport) => Promise<'applied' | 'stale'>;
  readonly listHostReports: () => Promise<HostReport[]>;
}

/**
 * Compare-and-swap on pbsveReportedAt (delete the stored value, add the new one, in one modify): a
 * report only replaces an older one, so replays and out-of-order vemon jobs leave the latest stored.
 */
export function createLdapHostReports(ldap: LdapConnection, baseDn: string): LdapHostReports {
  const putHostReport = async (report: HostReport): Promise<'applied' | 'stale'> => {
    const dn = buildHostDn(baseDn, validateAscii('host', report.host));
    const attributes = encodeHostReportAttributes(report);
    const facts = encodeHostFactsAttributes(report);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const entry = await ldap.run('search', dn, async (client) => {
        try {
          return (await client.search(dn, { scope: 'base', filter: hostFilter(), attributes: HOST_REPORT_ATTRIBUTES })).searchEntries[0];
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return undefined;
          throw err;
        }
      });
      if (entry === undefined) {
        // a host the inventory never saw: its entry starts with the state nobody vouched for
        const present = Object.entries(attributes).filter(([, v]) => v.length > 0);
        const added = await ldap.run('add', dn, async (client) => {
          try {
            await client.add(dn, { objectClass: [HOST_OBJECT_CLASS], pbsveHostName: [report.host], pbsveState: ['unknown'], ...Object.fromEntries(present), ...facts });
            return true;
          } catch (err) {
            if (ldapResultCode(err) === LDAP_ALREADY_EXISTS) return false;
            throw err;
          }
        });
        if (added) return 'applied';
        continue;
      }
      const storedRaw = readLdapEntry(entry).optionalString('pbsveReportedAt');
      const stored = decodeHostReportEntry(entry);
      if (stored !== undefined && Date.parse(stored.at) >= Date.parse(report.at)) return 'stale';
      const changes: AttributeChange[] = [
        ...(storedRaw === undefined ? [] : [{ operation: 'delete' as const, type: 'pbsveReportedAt', values: [storedRaw] }]),
        { operation: 'add', type: 'pbsveReportedAt', values: attributes['pbsveReportedAt'] ?? [] },
        { operation: 'replace', type: 'pbsveOrphanDomain', values: attributes['pbsveOrphanDomain'] ?? [] },
        ...Object.entries(facts).map(([type, values]) => ({ operation: 'replace' as const, type, values })),
      ];
      const swapped = await ldap.run('modify', dn, async (client) => {
        try {
          await client.modify(dn, toLdaptsChanges(changes));
          return true;
        } catch (err) {
          // another report was stored in between: read again and compare again
          const code = ldapResultCode(err);
          if (code === LDAP_NO_SUCH_ATTRIBUTE || code === LDAP_CONSTRAINT_VIOLATION || code === LDAP_VALUE_EXISTS) return false;
          throw err;
        }
      });
      if (swapped) return 'applied';
    }
    throw new VeError('inventory-contention', 'environment', `host ${report.host}: host entry kept changing under ${MAX_CAS_RETRIES} attempts`);
  };
  // One search over ou=hosts: reconcile stays linear in the number of hosts.
  const listHostReports = async (): Promise<HostReport[]> => {
    const base = `${HOSTS_RDN},${baseDn}`;
    const filter = new AndFilter({ filters: [hostFilter(), new PresenceFilter({ attribute: 'pbsveReportedAt' })] });
    const entries = await ldap.run('search', base, async (client) => {
      try {
        return (await client.search(base, { scope: 'one', filter, attributes: HOST_REPORT_ATTRIBUTES, paged: { pageSize: 500 } })).searchEntries;
      } catch (err) {
        if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return [];
        throw err;
      }
    });
    return entries.flatMap((e) => { const r = decodeHostReportEntry(e); return r === undefined ? [] : [r]; })
      .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  };
  return { putHostReport, listHostReports };
}
