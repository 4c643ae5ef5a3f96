// The ConsoleSource port on OpenLDAP, read-only (anonymous or the site's read account; never the writer).
import { PresenceFilter, type Filter } from 'ldapts';
import { buildVesDn } from '../inventory/build-inventory-dn.js';
import { createLdapConnection, type LdapConnectionOptions } from '../inventory/ldap-connection.js';
import { VE_ATTRIBUTES, decodeVeEntry } from '../inventory/ve-entry.js';
import type { ConsoleSource, ConsoleVe } from './console-source.js';

/** without a contextCSN (no syncprov, no replication) the marker changes every this many ms: a slow refresh */
const FALLBACK_MARKER_MS = 10_000;

export function createLdapConsoleSource(options: LdapConnectionOptions): ConsoleSource {
  const ldap = createLdapConnection(options);
  const vesDn = buildVesDn(options.baseDn);
  return {
    async searchVes(filter: Filter) {
      const entries = await ldap.run('search', vesDn, async (client) =>
        (await client.search(vesDn, { scope: 'one', filter, attributes: VE_ATTRIBUTES, paged: { pageSize: 500 } })).searchEntries);
      const ves: ConsoleVe[] = [];
      let malformed = 0;
      for (const entry of entries) {
        try {
          ves.push(decodeVeEntry(entry));
        } catch {
          malformed++; // one entry someone wrote by hand must not hide the others
        }
      }
      return { ves, malformed };
    },
    async readChangeMarker() {
      const entries = await ldap.run('search', options.baseDn, async (client) =>
        (await client.search(options.baseDn, { scope: 'base', filter: new PresenceFilter({ attribute: 'objectClass' }), attributes: ['contextCSN'] })).searchEntries);
      const csn = entries[0]?.['contextCSN'];
      const values = Array.isArray(csn) ? csn.map(String) : csn === undefined ? [] : [String(csn)];
      if (values.length > 0) return values.sort().join(' ');
      return `t${Math.floor(Date.now() / FALLBACK_MARKER_MS)}`;
    },
    close: () => ldap.close(),
  };
}
