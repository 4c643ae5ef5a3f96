import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';

/** Host names as the batch system prints them; also safe as a file name and inside a signed event line. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/;
const KEY_TEXT = /^[0-9a-f]{64}$/;

// A host name becomes a file name: nothing that could leave the key directory gets through.
function checkHostName(host: string): string {
  if (!HOST_NAME_PATTERN.test(host) || host.includes('..')) {
    throw new VeError('invalid-host', 'prereq', `host: must be a host name of letters, digits, dots and hyphens (got ${JSON.stringify(host.slice(0, 80))})`, { field: 'host' });
  }
  return host;
}

// One directory holds the keys: a host has its own only, the vemon nodes have all of them.
export function hostKeyPath(configDir: string, host: string): string {
  return join(configDir, 'host-keys', `${checkHostName(host)}.key`);
}

// Idempotent, so installers and the sandbox can call it on every run; never overwrites a key.
export function ensureHostKey(configDir: string, host: string): string {
  const file = hostKeyPath(configDir, host);
  mkdirSync(join(configDir, 'host-keys'), { recursive: true, mode: 0o700 });
  chmodSync(join(configDir, 'host-keys'), 0o700);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      readHostKey(configDir, host);
      return file;
    }
    throw new VeError('host-key-write-failed', 'environment', `cannot create ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o600);
  return file;
}

// A key others can read is no secret: such a file is refused, not used.
export function readHostKey(configDir: string, host: string): Buffer {
  const file = hostKeyPath(configDir, host);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new VeError('host-key-missing', 'environment', `no key for host ${host}: cannot read ${file} (create it with: ve-monitor keygen --host ${host})`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    // whoever reads a key owns it: root on a compute host (it signs), the monitor account on a vemon
    // node (it verifies; TORQUE: pbsve). A key another account owns could be read or changed by it.
    const euid = process.geteuid?.();
    if ((st.mode & 0o077) !== 0 || (euid !== undefined && st.uid !== euid)) {
      throw new VeError('host-key-insecure', 'environment', `${file}: must be mode 0600 and owned by the account reading it (uid ${euid ?? '?'}: root on a compute host, the account vemon jobs run as on a vemon node); it is mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid}`);
    }
    const text = readFileSync(fd, 'utf8').trim();
    if (!KEY_TEXT.test(text)) throw new VeError('host-key-invalid', 'environment', `${file}: must hold 64 hex digits`);
    return Buffer.from(text, 'hex');
  } finally {
    closeSync(fd);
  }
}

/** Looks keys up by host name once each; undefined when this machine has no usable key for it. */
export type HostKeyring = (host: string) => Buffer | undefined;

// The monitor checks many lines of few hosts: read each key file once per run.
export function openHostKeyring(configDir: string, log: (line: string) => void = () => undefined): HostKeyring {
  const cache = new Map<string, Buffer | undefined>();
  return (host) => {
    if (!cache.has(host)) {
      try {
        cache.set(host, readHostKey(configDir, host));
      } catch (err) {
        log(`pbs-ve: ${(err as Error).message}`);
        cache.set(host, undefined);
      }
    }
    return cache.get(host);
  };
}
