// Where `ve-monitor web` listens, and whether it may: plain HTTP is for loopback only.
import { isIP } from 'node:net';
import { VeError, invalidField } from '../core/ve-error.js';

export interface WebListen {
  readonly host: string;
  readonly port: number;
  /** PEM files; absent: plain HTTP (loopback only) */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export const DEFAULT_WEB_LISTEN = '127.0.0.1:8443';

// Loopback by address only: a name could resolve anywhere.
export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

// Parses host:port ([v6]:port) and refuses to serve logins and session cookies in clear text off loopback.
export function decideWebListen(listen: string, tls: { readonly certFile?: string | undefined; readonly keyFile?: string | undefined }): WebListen {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+|[A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidField('listen', 'must be host:port, e.g. 127.0.0.1:8443 or [::1]:8443', listen);
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) throw invalidField('tls-key', 'the certificate and the key go together', tls.keyFile ?? tls.certFile);
  if (tls.certFile === undefined || tls.keyFile === undefined) {
    if (!isLoopbackAddress(host)) {
      throw new VeError('plain-http-refused', 'prereq', `listen: plain HTTP only on a loopback address (got ${JSON.stringify(listen)}); name a certificate and key (--tls-cert, --tls-key or config web.tlsCertFile/tlsKeyFile)`, { field: 'listen' });
    }
    return { host, port };
  }
  return { host, port, tls: { certFile: tls.certFile, keyFile: tls.keyFile } };
}
