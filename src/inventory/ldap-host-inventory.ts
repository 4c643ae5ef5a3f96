// The HostInventory port on OpenLDAP (ou=hosts).
import { EqualityFilter } from 'ldapts';
import { buildHostDn, HOSTS_RDN } from './build-inventory-dn.js';
import { HOST_ATTRIBUTES, HOST_OBJECT_CLASS, decodeHostEntry, encodeHostAttributes } from './host-entry.js';
import type { HostInventory, HostRecord } from './host-inventory.js';
import { createLdapConnection, type LdapConnectionOptions } from './ldap-connection.js';
import { LDAP_NO_SUCH_OBJECT, ldapResultCode } from './translate-ldap-error.js';
import { upsertLdapEntry } from './upsert-ldap-entry.js';
import { validateAscii } from './validate-inventory-field.js';

const hostFilter = (): EqualityFilter => new EqualityFilter({ attribute: 'objectClass', value: HOST_OBJECT_CLASS });

// Same connection options as the VE inventory; writes need the ve-monitor account.
export function createLdapHostInventory(options: LdapConnectionOptions): HostInventory {
  const ldap = createLdapConnection(options);
  const baseDn = options.baseDn;
  return {
    async putHost(record: HostRecord): Promise<void> {
      const attributes = encodeHostAttributes(record);
      const dn = buildHostDn(baseDn, record.name);
      await ldap.run('put host', dn, (client) => upsertLdapEntry(client, dn, HOST_OBJECT_CLASS, attributes));
    },
    async getHost(name: string): Promise<HostRecord | undefined> {
      const dn = buildHostDn(baseDn, validateAscii('name', name));
      const entries = await ldap.run('search', dn, async (client) => {
        try {
          return (await client.search(dn, { scope: 'base', filter: hostFilter(), attributes: HOST_ATTRIBUTES })).searchEntries;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return [];
          throw err;
        }
      });
      const entry = entries[0];
      return entry === undefined ? undefined : decodeHostEntry(entry);
    },
    async listHosts(): Promise<HostRecord[]> {
      const base = `${HOSTS_RDN},${baseDn}`;
      const entries = await ldap.run('search', base, async (client) =>
        (await client.search(base, { scope: 'one', filter: hostFilter(), attributes: HOST_ATTRIBUTES, paged: { pageSize: 500 } }))
          .searchEntries);
      return entries.map(decodeHostEntry).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    close: () => ldap.close(),
  };
}
