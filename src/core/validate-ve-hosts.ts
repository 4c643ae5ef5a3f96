import { invalidField } from './ve-error.js';
import { IPV4_PATTERN } from './ve-nic.js';
import { validateVeName } from './validate-ve-spec.js';
import type { VeHostEntry } from './ve-spec.js';

/** more /etc/hosts entries than this is a DNS server's job, not a seed's */
export const MAX_VE_HOSTS = 256;
/** RFC 1123 host name: dot-separated DNS labels, at most 253 characters */
const HOST_NAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

// The guest's host name goes into /etc/hostname, cloud-init YAML and the hostname command: one DNS label only.
export function validateGuestHostname(value: unknown, field = 'hostname'): string {
  return validateVeName(value, field);
}

// Every entry becomes one /etc/hosts line written by root: no spaces, newlines or '#' can get through.
export function validateHostEntries(value: unknown, field = 'add-host'): VeHostEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(field, 'must be a list of {name, address} entries', value);
  if (value.length > MAX_VE_HOSTS) throw invalidField(field, `at most ${MAX_VE_HOSTS} entries`, value.length);
  return value.map((item: unknown) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalidField(field, 'must be NAME=A.B.C.D', item);
    const { name, address } = item as Record<string, unknown>;
    if (typeof name !== 'string' || !HOST_NAME_PATTERN.test(name)) {
      throw invalidField(field, 'name must be a host name (dot-separated DNS labels of letters, digits and inner hyphens)', name);
    }
    if (typeof address !== 'string' || !IPV4_PATTERN.test(address)) throw invalidField(field, 'address must be an IPv4 address A.B.C.D', address);
    return { name, address };
  });
}

// `--add-host NAME=ADDR` as docker spells it; the parts are checked by validateHostEntries.
export function parseAddHost(text: string): VeHostEntry {
  const at = text.indexOf('=');
  if (at <= 0) throw invalidField('add-host', 'must be NAME=A.B.C.D', text);
  return { name: text.slice(0, at), address: text.slice(at + 1) };
}
