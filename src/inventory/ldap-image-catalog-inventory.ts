// The ImageCatalogInventory port on OpenLDAP (ou=images).
import { AndFilter, EqualityFilter, type Filter } from 'ldapts';
import type { VeType } from '../core/ve-type.js';
import { invalidField } from '../core/ve-error.js';
import { isVeType } from '../core/ve-type.js';
import { buildImageDn, IMAGES_RDN } from './build-inventory-dn.js';
import type { ImageCatalogInventory, ImageRecord } from './image-catalog-inventory.js';
import { IMAGE_ATTRIBUTES, IMAGE_OBJECT_CLASS, decodeImageEntry, encodeImageAttributes } from './image-entry.js';
import { createLdapConnection, type LdapConnectionOptions } from './ldap-connection.js';
import { LDAP_NO_SUCH_OBJECT, ldapResultCode } from './translate-ldap-error.js';
import { upsertLdapEntry } from './upsert-ldap-entry.js';
import { validateText } from './validate-inventory-field.js';

const imageFilter = (): EqualityFilter => new EqualityFilter({ attribute: 'objectClass', value: IMAGE_OBJECT_CLASS });

// Same connection options as the VE inventory; writes need the ve-monitor account.
export function createLdapImageCatalogInventory(options: LdapConnectionOptions): ImageCatalogInventory {
  const ldap = createLdapConnection(options);
  const baseDn = options.baseDn;
  return {
    async putImage(record: ImageRecord): Promise<void> {
      const attributes = encodeImageAttributes(record);
      const dn = buildImageDn(baseDn, record.name);
      await ldap.run('put image', dn, (client) => upsertLdapEntry(client, dn, IMAGE_OBJECT_CLASS, attributes));
    },
    async getImage(name: string): Promise<ImageRecord | undefined> {
      const dn = buildImageDn(baseDn, validateText('name', name));
      const entries = await ldap.run('search', dn, async (client) => {
        try {
          return (await client.search(dn, { scope: 'base', filter: imageFilter(), attributes: IMAGE_ATTRIBUTES })).searchEntries;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return [];
          throw err;
        }
      });
      const entry = entries[0];
      return entry === undefined ? undefined : decodeImageEntry(entry);
    },
    async listImages(type?: VeType): Promise<ImageRecord[]> {
      if (type !== undefined && !isVeType(type)) throw invalidField('type', 'must be kvm or lxc', type);
      const base = `${IMAGES_RDN},${baseDn}`;
      const filter: Filter = type === undefined
        ? imageFilter()
        : new AndFilter({ filters: [imageFilter(), new EqualityFilter({ attribute: 'pbsveType', value: type })] });
      const entries = await ldap.run('search', base, async (client) =>
        (await client.search(base, { scope: 'one', filter, attributes: IMAGE_ATTRIBUTES, paged: { pageSize: 500 } }))
          .searchEntries);
      return entries.map(decodeImageEntry).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async removeImage(name: string): Promise<boolean> {
      const dn = buildImageDn(baseDn, validateText('name', name));
      return ldap.run('delete', dn, async (client) => {
        try {
          await client.del(dn);
          return true;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return false;
          throw err;
        }
      });
    },
    close: () => ldap.close(),
  };
}
