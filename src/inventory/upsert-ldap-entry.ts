// "Create or replace" for hosts and images, which have no compare-and-swap semantics.
import type { Client } from 'ldapts';
import type { LdapAttributes } from './attribute-change.js';
import { toLdaptsChanges } from './ldap-connection.js';
import { LDAP_ALREADY_EXISTS, ldapResultCode } from './translate-ldap-error.js';

// Add first (the common case for a new entry), fall back to replacing every attribute we own;
// attributes with no value are left out of the add and removed by the replace.
export async function upsertLdapEntry(client: Client, dn: string, objectClass: string, attributes: LdapAttributes): Promise<void> {
  const present = Object.entries(attributes).filter(([, values]) => values.length > 0);
  try {
    await client.add(dn, { objectClass: [objectClass], ...Object.fromEntries(present) });
  } catch (err) {
    if (ldapResultCode(err) !== LDAP_ALREADY_EXISTS) throw err;
    const changes = Object.entries(attributes).map(([type, values]) => ({ operation: 'replace' as const, type, values }));
    await client.modify(dn, toLdaptsChanges(changes));
  }
}
