// Typed, strict access to one search result entry: a malformed entry is reported by DN and attribute.
import type { Entry } from 'ldapts';
import { VeError } from '../core/ve-error.js';
import { parseGeneralizedTime } from './generalized-time.js';

export interface EntryReader {
  readonly dn: string;
  /** all values of the attribute (none when absent) */
  strings(attribute: string): string[];
  requireString(attribute: string): string;
  optionalString(attribute: string): string | undefined;
  requireInteger(attribute: string): number;
  optionalInteger(attribute: string): number | undefined;
  requireTime(attribute: string): string;
  optionalTime(attribute: string): string | undefined;
  optionalBoolean(attribute: string): boolean | undefined;
  requireOneOf<T extends string>(attribute: string, isAllowed: (value: string) => value is T): T;
  optionalOneOf<T extends string>(attribute: string, isAllowed: (value: string) => value is T): T | undefined;
}

const INTEGER_PATTERN = /^-?(0|[1-9][0-9]*)$/;

// One error shape for every bad entry so operators can find and fix the entry with ldapmodify.
export function badEntry(dn: string, attribute: string, problem: string, got?: unknown): VeError {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  return new VeError('inventory-bad-entry', 'exec', `inventory entry "${dn}": ${attribute} ${problem}${shown}`, {
    field: attribute,
    details: { dn, attribute },
  });
}

// Attribute names come back in whatever case the server chose (slapd: the schema's, which the requests
// use too), values may be strings or buffers; an entry lists each attribute once (RFC 4511 4.1.7). The
// exact name is looked up first: building a lower-cased map of every attribute of every entry was most of
// the decoding time of a 20,000-VE listing.
function readValues(entry: Entry, attribute: string): string[] {
  let raw = entry[attribute];
  if (raw === undefined) {
    const lower = attribute.toLowerCase();
    const key = Object.keys(entry).find((k) => k !== 'dn' && k.toLowerCase() === lower);
    raw = key === undefined ? undefined : entry[key];
  }
  if (raw === undefined) return [];
  if (typeof raw === 'string') return [raw];
  if (Buffer.isBuffer(raw)) return [raw.toString('utf8')];
  return raw.map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

// Built once per entry; every accessor validates so mapping code stays a flat list of fields.
export function readLdapEntry(entry: Entry): EntryReader {
  const dn = entry.dn;
  const strings = (attribute: string): string[] => readValues(entry, attribute);
  const optionalString = (attribute: string): string | undefined => {
    const list = strings(attribute);
    if (list.length > 1) throw badEntry(dn, attribute, 'must have one value', list);
    return list[0];
  };
  const requireString = (attribute: string): string => {
    const value = optionalString(attribute);
    if (value === undefined) throw badEntry(dn, attribute, 'is missing');
    return value;
  };
  const optionalInteger = (attribute: string): number | undefined => {
    const value = optionalString(attribute);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!INTEGER_PATTERN.test(value) || !Number.isSafeInteger(n)) {
      throw badEntry(dn, attribute, 'must be a whole number', value);
    }
    return n;
  };
  const optionalTime = (attribute: string): string | undefined => {
    const value = optionalString(attribute);
    if (value === undefined) return undefined;
    const iso = parseGeneralizedTime(value);
    if (iso === undefined) throw badEntry(dn, attribute, 'must be a GeneralizedTime', value);
    return iso;
  };
  const optionalOneOf = <T extends string>(attribute: string, isAllowed: (v: string) => v is T): T | undefined => {
    const value = optionalString(attribute);
    if (value === undefined) return undefined;
    if (!isAllowed(value)) throw badEntry(dn, attribute, 'has a value pbs-ve does not know', value);
    return value;
  };
  return {
    dn,
    strings,
    requireString,
    optionalString,
    optionalInteger,
    requireInteger: (attribute) => {
      const n = optionalInteger(attribute);
      if (n === undefined) throw badEntry(dn, attribute, 'is missing');
      return n;
    },
    optionalTime,
    requireTime: (attribute) => {
      const t = optionalTime(attribute);
      if (t === undefined) throw badEntry(dn, attribute, 'is missing');
      return t;
    },
    optionalBoolean: (attribute) => {
      const value = optionalString(attribute);
      if (value === undefined) return undefined;
      if (value !== 'TRUE' && value !== 'FALSE') throw badEntry(dn, attribute, 'must be TRUE or FALSE', value);
      return value === 'TRUE';
    },
    optionalOneOf,
    requireOneOf: (attribute, isAllowed) => {
      const value = optionalOneOf(attribute, isAllowed);
      if (value === undefined) throw badEntry(dn, attribute, 'is missing');
      return value;
    },
  };
}
