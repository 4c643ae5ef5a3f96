import { VeError } from '../core/ve-error.js';

/** RDN types a pbs-ve base DN may start with */
export const BASE_RDN_TYPES: readonly string[] = ['ou', 'o', 'dc'];

const RDN = /^([A-Za-z]+)=([A-Za-z0-9][A-Za-z0-9 ._-]{0,62})$/;

// DNs end up in LDIF lines and ACL text: plain attr=value RDNs only, no escapes, quotes or newlines.
export function checkLdapDn(field: string, dn: string, firstTypes: readonly string[]): string {
  const rdns = dn.split(',');
  const ok = rdns.every((r) => RDN.test(r)) && firstTypes.includes((RDN.exec(rdns[0] ?? '')?.[1] ?? '').toLowerCase());
  if (!ok) {
    throw new VeError('invalid-field', 'prereq', `${field}: must be a DN of plain attr=value parts (letters, digits, space . _ -), the first one ${firstTypes.join('= or ')}= (got ${JSON.stringify(dn.slice(0, 200))})`, { field });
  }
  return dn;
}
