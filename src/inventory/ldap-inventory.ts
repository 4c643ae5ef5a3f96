// The Inventory port on OpenLDAP (schema/pbs-ve.ldif) through ldapts.
import { EqualityFilter, type Entry } from 'ldapts';
import type { HistoryRecord, Inventory, LiveVe, VePartRecord, VeQuery, VeRecord } from './inventory.js';
import { buildHistoryDn, buildPartDn, buildPartHistoryDn, buildVeDn, buildVesDn } from './build-inventory-dn.js';
import { PART_ATTRIBUTES, PART_OBJECT_CLASS, buildPartUpdateChanges, decodePartEntry, encodePartAttributes } from './ve-part-entry.js';
import { buildVeFilter } from './build-ve-filter.js';
import { compareJobIds } from './compare-job-ids.js';
import { HISTORY_ATTRIBUTES, HISTORY_OBJECT_CLASS, decodeHistoryEntry, encodeHistoryAttributes } from './history-entry.js';
import { createLdapConnection, toLdaptsChanges, type LdapConnectionOptions } from './ldap-connection.js';
import {
  LDAP_ALREADY_EXISTS, LDAP_NO_SUCH_ATTRIBUTE, LDAP_NO_SUCH_OBJECT, ldapResultCode,
} from './translate-ldap-error.js';
import { VE_ATTRIBUTES, VE_OBJECT_CLASS, buildVeUpdateChanges, decodeVeEntry, encodeVeAttributes } from './ve-entry.js';
import { validateJobId } from './validate-job-id.js';
import { LIVE_VE_ATTRIBUTES, decodeLiveVeEntry } from './live-ve-entry.js';
import { createLdapHostReports } from './ldap-host-reports.js';

export type LdapInventoryOptions = LdapConnectionOptions;

const PAGE_SIZE = 500;

// ve-monitor writes with the service account; readers (ve list) may use anonymous access.
export function createLdapInventory(options: LdapInventoryOptions): Inventory {
  const ldap = createLdapConnection(options);
  const baseDn = options.baseDn;
  // Entries of one class at or below dn; a dn that does not exist (yet) simply has none.
  const searchClass = (dn: string, objectClass: string, scope: 'base' | 'one' | 'sub', attributes: string[]): Promise<Entry[]> =>
    ldap.run('search', dn, async (client) => {
      try {
        const filter = new EqualityFilter({ attribute: 'objectClass', value: objectClass });
        return (await client.search(dn, { scope, filter, attributes, ...(scope === 'base' ? {} : { paged: { pageSize: PAGE_SIZE } }) })).searchEntries;
      } catch (err) {
        if (ldapResultCode(err) === LDAP_NO_SUCH_OBJECT) return [];
        throw err;
      }
    });

  return {
    async getVe(jobId: string): Promise<VeRecord | undefined> {
      const dn = buildVeDn(baseDn, validateJobId(jobId));
      const entries = await searchClass(dn, VE_OBJECT_CLASS, 'base', VE_ATTRIBUTES);
      const entry = entries[0];
      return entry === undefined ? undefined : decodeVeEntry(entry);
    },

    async listVes(query: VeQuery = {}): Promise<VeRecord[]> {
      const base = buildVesDn(baseDn);
      const entries = await ldap.run('search', base, async (client) => {
        const filter = buildVeFilter(query);
        const result = await client.search(base, {
          scope: 'one', filter, attributes: VE_ATTRIBUTES, paged: { pageSize: PAGE_SIZE },
        });
        return result.searchEntries;
      });
      return entries.map(decodeVeEntry).sort((a, b) => compareJobIds(a.jobId, b.jobId));
    },

    async listLiveVes(): Promise<LiveVe[]> {
      const base = buildVesDn(baseDn);
      const ves = await ldap.run('search', base, async (client) => {
        // page by page: each page's raw entries are dropped once decoded, so they die young instead of
        // every raw entry of the whole listing surviving into the old generation first
        const decoded: LiveVe[] = [];
        const pages = client.searchPaginated(base, { scope: 'one', filter: buildVeFilter({}), attributes: LIVE_VE_ATTRIBUTES, paged: { pageSize: PAGE_SIZE } });
        for await (const page of pages) for (const entry of page.searchEntries) decoded.push(decodeLiveVeEntry(entry));
        return decoded;
      });
      return ves.sort((a, b) => compareJobIds(a.jobId, b.jobId));
    },

    async createVe(record: VeRecord): Promise<void> {
      const dn = buildVeDn(baseDn, record.jobId);
      const attributes = encodeVeAttributes(record);
      await ldap.run('add', dn, (client) => client.add(dn, attributes));
    },

    async updateVe(record: VeRecord, expectedSeq: number): Promise<boolean> {
      const dn = buildVeDn(baseDn, record.jobId);
      const changes = toLdaptsChanges(buildVeUpdateChanges(record, expectedSeq));
      return ldap.run('modify', dn, async (client) => {
        try {
          await client.modify(dn, changes);
          return true;
        } catch (err) {
          // the stored seq is not expectedSeq: the whole modify was refused, nothing written
          if (ldapResultCode(err) === LDAP_NO_SUCH_ATTRIBUTE) return false;
          throw err;
        }
      });
    },

    async addHistory(record: HistoryRecord): Promise<boolean> {
      const attributes = encodeHistoryAttributes(record);
      const dn = record.part === undefined ? buildHistoryDn(baseDn, record.jobId, record.seq) : buildPartHistoryDn(baseDn, record.jobId, record.part, record.seq);
      return ldap.run('add', dn, async (client) => {
        try {
          await client.add(dn, attributes);
          return true;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_ALREADY_EXISTS) return false;
          throw err;
        }
      });
    },

    async listHistory(jobId: string): Promise<HistoryRecord[]> {
      const dn = buildVeDn(baseDn, validateJobId(jobId));
      // 'sub': a multi-node VE's parts keep their history under the part entries
      const entries = await searchClass(dn, HISTORY_OBJECT_CLASS, 'sub', HISTORY_ATTRIBUTES);
      return entries.map(decodeHistoryEntry).sort((a, b) => a.seq - b.seq || a.at.localeCompare(b.at) || (a.part ?? 0) - (b.part ?? 0));
    },

    async getPart(jobId: string, part: number): Promise<VePartRecord | undefined> {
      const dn = buildPartDn(baseDn, jobId, part);
      const entries = await searchClass(dn, PART_OBJECT_CLASS, 'base', PART_ATTRIBUTES);
      const entry = entries[0];
      return entry === undefined ? undefined : decodePartEntry(entry);
    },

    async listParts(jobId: string): Promise<VePartRecord[]> {
      const dn = buildVeDn(baseDn, validateJobId(jobId));
      const entries = await searchClass(dn, PART_OBJECT_CLASS, 'one', PART_ATTRIBUTES);
      return entries.map(decodePartEntry).sort((a, b) => a.part - b.part);
    },

    async createPart(record: VePartRecord): Promise<void> {
      const dn = buildPartDn(baseDn, record.jobId, record.part);
      const attributes = encodePartAttributes(record);
      await ldap.run('add', dn, (client) => client.add(dn, attributes));
    },

    async updatePart(record: VePartRecord, expectedSeq: number): Promise<boolean> {
      const dn = buildPartDn(baseDn, record.jobId, record.part);
      const changes = toLdaptsChanges(buildPartUpdateChanges(record, expectedSeq));
      return ldap.run('modify', dn, async (client) => {
        try {
          await client.modify(dn, changes);
          return true;
        } catch (err) {
          if (ldapResultCode(err) === LDAP_NO_SUCH_ATTRIBUTE) return false;
          throw err;
        }
      });
    },

    ...createLdapHostReports(ldap, baseDn),
    close: () => ldap.close(),
  };
}
