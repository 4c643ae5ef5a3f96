// ISO 8601 <-> LDAP GeneralizedTime (RFC 4517 3.3.13), the time syntax of the pbs-ve schema.
import { invalidField } from '../core/ve-error.js';

const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const GENERALIZED_PATTERN = /^(\d{4})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:[.,](\d+))?)?)?(Z|[+-]\d{2}(?:\d{2})?)$/;

// Times are stored in UTC with milliseconds so they sort and compare on the server.
export function formatGeneralizedTime(iso: string, field = 'time'): string {
  const date = ISO_PATTERN.test(iso) ? new Date(iso) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw invalidField(field, 'must be an ISO 8601 date-time with zone, e.g. 2024-05-01T12:00:00.000Z', iso);
  }
  const p = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}.${p(date.getUTCMilliseconds(), 3)}Z`;
}

// Entries may come from other tools (ldapmodify, slapd operational attributes): accept every valid
// GeneralizedTime form and return undefined for anything else so the caller can name the attribute.
export function parseGeneralizedTime(value: string): string | undefined {
  const m = GENERALIZED_PATTERN.exec(value);
  if (m === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = m;
  if (fraction !== undefined && second === undefined) return undefined;
  const y = Number(year), mo = Number(month), d = Number(day), h = Number(hour);
  const mi = Number(minute ?? '0'), s = Number(second ?? '0');
  const ms = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5) || '0'));
  }
  const utc = Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59), ms) - offsetMinutes * 60_000;
  const date = new Date(utc);
  // Date.UTC rolls 31 February over into March: reject instead of silently moving the day
  const local = new Date(utc + offsetMinutes * 60_000);
  if (local.getUTCDate() !== d || local.getUTCMonth() !== mo - 1) return undefined;
  return date.toISOString();
}
