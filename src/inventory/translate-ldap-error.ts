// The adapter boundary: whatever ldapts or the socket threw becomes a VeError with a stable code.
import { ResultCodeError } from 'ldapts';
import { VeError, type VeErrorKind } from '../core/ve-error.js';

export const LDAP_NO_SUCH_ATTRIBUTE = 16;
export const LDAP_NO_SUCH_OBJECT = 32;
export const LDAP_ALREADY_EXISTS = 68;

interface Translation {
  readonly code: string;
  readonly kind: VeErrorKind;
}

const UNAVAILABLE: Translation = { code: 'inventory-unavailable', kind: 'environment' };
const AUTH: Translation = { code: 'inventory-auth', kind: 'environment' };
const DENIED: Translation = { code: 'inventory-denied', kind: 'environment' };
const REJECTED: Translation = { code: 'inventory-rejected', kind: 'exec' };

const BY_RESULT_CODE: ReadonlyMap<number, Translation> = new Map([
  // the server is there but cannot serve now: another try or another replica may work
  [3, UNAVAILABLE], [11, UNAVAILABLE], [51, UNAVAILABLE], [52, UNAVAILABLE], [80, UNAVAILABLE],
  [49, AUTH],
  // authenticated (or anonymous) but not allowed: a deployment problem of this host
  [7, DENIED], [8, DENIED], [13, DENIED], [48, DENIED], [50, DENIED], [53, DENIED],
  // the entry we sent does not fit the schema or its constraints: a bug or a hostile value
  [17, REJECTED], [18, REJECTED], [19, REJECTED], [20, REJECTED], [21, REJECTED], [34, REJECTED],
  [64, REJECTED], [65, REJECTED], [66, REJECTED], [67, REJECTED], [69, REJECTED],
  [LDAP_NO_SUCH_OBJECT, { code: 'inventory-not-found', kind: 'exec' }],
  [LDAP_ALREADY_EXISTS, { code: 'inventory-exists', kind: 'exec' }],
]);

// The LDAP result code, when the error is an LDAP result and not a socket failure.
export function ldapResultCode(err: unknown): number | undefined {
  return err instanceof ResultCodeError ? err.code : undefined;
}

// Socket errors, refused connections and ldapts timeouts all mean "no directory now": environment.
export function translateLdapError(err: unknown, operation: string, dn?: string): VeError {
  if (err instanceof VeError) return err;
  const reason = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
  const where = dn === undefined ? operation : `${operation} ${dn}`;
  if (err instanceof ResultCodeError) {
    const t = BY_RESULT_CODE.get(err.code) ?? { code: 'inventory-failed', kind: 'exec' as const };
    // ldapts appends " Code: 0x.." to the server's diagnostic message (which is often empty)
    const diagnostic = reason.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
    const text = `${err.name} (result code ${err.code})${diagnostic === '' ? '' : `: ${diagnostic}`}`;
    return new VeError(t.code, t.kind, `LDAP ${where}: ${text}`, {
      cause: err,
      details: { operation, resultCode: err.code, ...(dn === undefined ? {} : { dn }) },
    });
  }
  if (err instanceof TypeError || err instanceof RangeError) {
    // a bug on our side (or in ldapts), not an outage: do not invite retries
    return new VeError('inventory-failed', 'exec', `LDAP ${where}: ${reason}`, { cause: err, details: { operation } });
  }
  const errno = (err as { code?: unknown } | null)?.code;
  return new VeError(UNAVAILABLE.code, UNAVAILABLE.kind, `LDAP ${where}: directory unreachable: ${reason}`, {
    cause: err,
    details: { operation, ...(typeof errno === 'string' ? { errno } : {}), ...(dn === undefined ? {} : { dn }) },
  });
}
