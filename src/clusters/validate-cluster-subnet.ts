import { invalidField } from '../core/ve-error.js';
import { findHostPart, parseIpv4Prefix } from '../core/parse-ipv4-prefix.js';

/** a cluster subnet: room for at least a few members above .10, at most a /16 */
const MIN_PREFIX = 16;
const MAX_PREFIX = 28;

// The subnet becomes static guest addresses and a VXLAN network: a network address, aligned, sized sanely.
export function validateClusterSubnet(value: unknown, field = 'subnet'): string {
  const prefix = parseIpv4Prefix(value);
  if (prefix === undefined || prefix.length < MIN_PREFIX || prefix.length > MAX_PREFIX) {
    throw invalidField(field, `must be an IPv4 network with its prefix length from /${MIN_PREFIX} to /${MAX_PREFIX}, e.g. 10.99.0.0/24`, value);
  }
  if (findHostPart(prefix) !== 0) throw invalidField(field, 'must be the network address (host part all zero), e.g. 10.99.0.0/24', value);
  return value as string;
}

// Dotted quad -> unsigned 32-bit number (the pattern was checked by the caller).
export function parseIpv4(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

// Unsigned 32-bit number -> dotted quad.
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => String(Math.floor(value / 2 ** shift) % 256)).join('.');
}
