// The ConsoleSource port: what the web console reads from LDAP beyond the Inventory port.
import type { Filter } from 'ldapts';
import type { VeRecord } from '../inventory/inventory.js';

/** a VE entry as the console lists it (its virtual cluster, pbsveCluster/pbsveRole, is part of the record) */
export type ConsoleVe = VeRecord;

export interface ConsoleSource {
  /** VE entries (ou=ves, one level) matching filter; malformed entries are left out and counted */
  searchVes(filter: Filter): Promise<{ readonly ves: ConsoleVe[]; readonly malformed: number }>;
  /** changes whenever anything in the directory changed (the suffix's contextCSN) */
  readChangeMarker(): Promise<string>;
  close(): Promise<void>;
}
