import { createHmac, timingSafeEqual } from 'node:crypto';
import { VeError } from '../core/ve-error.js';
import { HOST_NAME_PATTERN, type HostKeyring } from './host-key.js';

const PAYLOAD = /^[A-Za-z0-9_-]{1,8192}$/;
const MAC_HEX = /^[0-9a-f]{64}$/;

// The MAC covers payload and claimed host together, so neither can be swapped on its own.
function computeMac(payload: string, host: string, key: Buffer): Buffer {
  return createHmac('sha256', key).update(`${payload}.${host}`, 'utf8').digest();
}

/** "<payload>.<host>.<hmac-sha256 hex>": still only [A-Za-z0-9_.-], safe in a heredoc and a journal. */
export function signEventLine(payload: string, host: string, key: Buffer): string {
  if (!PAYLOAD.test(payload)) throw new VeError('invalid-event', 'exec', 'event payload is not one base64url line');
  if (!HOST_NAME_PATTERN.test(host)) throw new VeError('invalid-host', 'exec', `host: not a host name (got ${JSON.stringify(host.slice(0, 80))})`);
  return `${payload}.${host}.${computeMac(payload, host, key).toString('hex')}`;
}

export interface VerifiedEventLine {
  readonly payload: string;
  /** the host whose key signed the line */
  readonly host: string;
}

// Refuses before decoding: nothing of an unauthenticated line reaches the JSON parser or LDAP.
export function verifyEventLine(line: string, keyring: HostKeyring): VerifiedEventLine {
  const first = line.indexOf('.');
  const last = line.lastIndexOf('.');
  if (first < 0 || first === last) throw new VeError('event-unsigned', 'prereq', 'event line carries no host signature');
  const payload = line.slice(0, first);
  const host = line.slice(first + 1, last);
  const mac = line.slice(last + 1);
  if (!PAYLOAD.test(payload) || !HOST_NAME_PATTERN.test(host) || !MAC_HEX.test(mac)) {
    throw new VeError('event-malformed', 'prereq', 'event line is not <payload>.<host>.<hmac>');
  }
  const key = keyring(host);
  if (key === undefined) throw new VeError('event-unknown-host', 'prereq', `event line claims host ${host}, for which this monitor holds no key`);
  const expected = computeMac(payload, host, key);
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) throw new VeError('event-forged', 'prereq', `event line claims host ${host} but its HMAC does not match that host's key`);
  return { payload, host };
}
