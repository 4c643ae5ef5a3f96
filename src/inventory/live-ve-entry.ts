// LiveVe <- pbsveVirtualEnvironment entry: the few attributes a reconcile pass reads of every VE.
import type { Entry } from 'ldapts';
import { isVeState } from '../core/ve-state.js';
import type { LiveVe } from './inventory.js';
import { readLdapEntry } from './read-ldap-entry.js';

/** what listLiveVes asks for (the benchmark's raw ldapsearch floor asks the same) */
export const LIVE_VE_ATTRIBUTES = ['pbsveJobId', 'pbsveName', 'pbsveState', 'pbsveSeq', 'pbsveHost'];

// The same rules as decodeVeEntry for these fields, so a bad entry fails the same way in both listings.
export function decodeLiveVeEntry(entry: Entry): LiveVe {
  const r = readLdapEntry(entry);
  return {
    jobId: r.requireString('pbsveJobId'),
    name: r.requireString('pbsveName'),
    state: r.requireOneOf('pbsveState', isVeState),
    seq: r.requireInteger('pbsveSeq'),
    host: r.optionalString('pbsveHost') ?? '',
  };
}
