// One ldapts client per inventory: lazy connect, (re)bind after reconnects, errors translated once.
import { Attribute, Change, Client } from 'ldapts';
import { VeError, invalidField } from '../core/ve-error.js';
import type { AttributeChange } from './attribute-change.js';
import { translateLdapError } from './translate-ldap-error.js';

export interface LdapConnectionOptions {
  /** ldap://host:port or ldaps://host:port */
  readonly url: string;
  readonly baseDn: string;
  /** absent: anonymous (read-only in the pbs-ve ACLs) */
  readonly bindDn?: string;
  readonly password?: string;
  /** per operation and for connecting; default 5000 ms */
  readonly timeoutMs?: number;
}

export interface LdapConnection {
  readonly baseDn: string;
  /** runs action on a bound client; anything it throws leaves as a VeError */
  run<T>(operation: string, dn: string | undefined, action: (client: Client) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const DEFAULT_LDAP_TIMEOUT_MS = 5_000;

// Options come from configuration files: check them before the first network round trip.
function validateOptions(options: LdapConnectionOptions): void {
  if (!/^ldaps?:\/\/[^/?#\s]+\/?$/.test(options.url)) {
    throw invalidField('url', 'must be ldap://host[:port] or ldaps://host[:port]', options.url);
  }
  if (options.baseDn.trim() === '') throw invalidField('baseDn', 'must be a DN such as dc=pbs-ve,dc=test', options.baseDn);
  if (options.bindDn !== undefined && (options.password === undefined || options.password === '')) {
    throw invalidField('password', 'is required with bindDn (an empty password would bind anonymously)');
  }
  const timeout = options.timeoutMs;
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout <= 0)) {
    throw invalidField('timeoutMs', 'must be a whole number of milliseconds > 0', timeout);
  }
}

// The connection is opened on first use and re-opened by ldapts after a drop; a reconnected
// socket is unauthenticated, so every operation first makes sure the bind is in place.
export function createLdapConnection(options: LdapConnectionOptions): LdapConnection {
  validateOptions(options);
  const timeout = options.timeoutMs ?? DEFAULT_LDAP_TIMEOUT_MS;
  const client = new Client({ url: options.url, timeout, connectTimeout: timeout });
  let pendingBind: Promise<void> | undefined;
  let opening: Promise<unknown> | undefined;
  let closed = false;

  const ensureBound = async (): Promise<void> => {
    const { bindDn, password } = options;
    if (bindDn === undefined || password === undefined || client.isBound) return;
    pendingBind ??= client.bind(bindDn, password).finally(() => {
      pendingBind = undefined;
    });
    await pendingBind;
  };

  return {
    baseDn: options.baseDn,
    async run(operation, dn, action) {
      if (closed) throw new VeError('inventory-closed', 'exec', `LDAP ${operation}: inventory already closed`);
      try {
        await ensureBound();
      } catch (err) {
        throw translateLdapError(err, 'bind', options.bindDn);
      }
      try {
        // ldapts opens the socket inside the first operation, and two operations racing to open it
        // never return (anonymous readers have no bind to serialize them): the first one opens alone
        while (!client.isConnected && opening !== undefined) await opening.catch(() => undefined);
        if (client.isConnected) return await action(client);
        const first = action(client);
        opening = first;
        try {
          return await first;
        } finally {
          opening = undefined;
        }
      } catch (err) {
        throw translateLdapError(err, operation, dn);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.unbind();
      } catch {
        // the socket is destroyed either way; an unbind that fails has nothing left to clean up
      }
    },
  };
}

// The only place library-neutral changes become ldapts objects.
export function toLdaptsChanges(changes: readonly AttributeChange[]): Change[] {
  return changes.map(
    (c) => new Change({ operation: c.operation, modification: new Attribute({ type: c.type, values: [...c.values] }) }),
  );
}
