// The ClusterInventory port on OpenLDAP: one pbsveVirtualCluster entry per (owner, cluster), under ou=ves
// (the subtree the ve-monitor account may already write), compare-and-swap on pbsveSeq as VE entries.
import { AndFilter, EqualityFilter, type Filter } from 'ldapts';
import { buildVesDn } from './build-inventory-dn.js';
import { buildClusterDn, CLUSTER_ATTRIBUTES, CLUSTER_OBJECT_CLASS, decodeClusterEntry, encodeClusterAttributes } from './cluster-entry.js';
import { createLdapConnection, toLdaptsChanges, type LdapConnectionOptions } from './ldap-connection.js';
import { LDAP_ALREADY_EXISTS, LDAP_NO_SUCH_ATTRIBUTE, LDAP_NO_SUCH_OBJECT, ldapResultCode } from './translate-ldap-error.js';
import type { ClusterInventory, ClusterRecord } from './cluster-inventory.js';

const classFilter = (): EqualityFilter => new EqualityFilter({ attribute: 'objectClass', value: CLUSTER_OBJECT_CLASS });

export function createLdapClusterInventory(options: LdapConnectionOptions): ClusterInventory {
  const ldap = createLdapConnection(options);
  const baseDn = options.baseDn;
  const search = (base: string, scope: 'base' | 'one', filter: Filter): Promise<ClusterRecord[]> => ldap.run('search', base, async (client) => {
    try {
      return (await client.search(base, { scope, filter, attributes: CLUSTER_ATTRIBUTES, paged: scope === 'one' ? { pageSize: 500 } : false })).searchEntries.map(decodeClusterEntry);
    } catch (err) {
      if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return [];
      throw err;
    }
  });
  return {
    async getCluster(owner, name) {
      return (await search(buildClusterDn(baseDn, owner, name), 'base', classFilter()))[0];
    },
    async listClusters(owner) {
      const filter = owner === undefined ? classFilter() : new AndFilter({ filters: [classFilter(), new EqualityFilter({ attribute: 'pbsveOwner', value: owner })] });
      return (await search(buildVesDn(baseDn), 'one', filter)).sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name));
    },
    async putCluster(record, expectedSeq) {
      const dn = buildClusterDn(baseDn, record.owner, record.name);
      const attributes = encodeClusterAttributes(record);
      if (expectedSeq === undefined) {
        const present = Object.fromEntries(Object.entries(attributes).filter(([, v]) => v.length > 0));
        return ldap.run('add', dn, async (client) => {
          try {
            await client.add(dn, present);
            return true;
          } catch (err) {
            if (ldapResultCode(err) === LDAP_ALREADY_EXISTS) return false;
            throw err;
          }
        });
      }
      // delete the expected seq and add the new one in the same modify: a stored seq that moved refuses it all
      const rest = Object.entries(attributes).filter(([type]) => !['objectClass', 'pbsveClusterId', 'pbsveSeq'].includes(type));
      const changes = toLdaptsChanges([
        { operation: 'delete', type: 'pbsveSeq', values: [String(expectedSeq)] },
        { operation: 'add', type: 'pbsveSeq', values: [String(record.seq)] },
        ...rest.map(([type, values]) => ({ operation: 'replace' as const, type, values })),
      ]);
      return ldap.run('modify', dn, async (client) => {
        try {
          await client.modify(dn, changes);
          return true;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_ATTRIBUTE || ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return false;
          throw err;
        }
      });
    },
    close: () => ldap.close(),
  };
}
