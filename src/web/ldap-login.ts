// Logging in is one LDAP simple bind as the user: the directory checks the password, the console keeps none.
import { Client } from 'ldapts';
import { VeError, invalidField } from '../core/ve-error.js';
import { escapeDnValue } from '../inventory/escape-dn-value.js';
import { ldapResultCode, translateLdapError } from '../inventory/translate-ldap-error.js';

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const MAX_PASSWORD = 1024;
/** LDAP result code 49: wrong DN or password (also: no such user, which must look the same) */
const INVALID_CREDENTIALS = 49;

export type CheckLogin = (user: string, password: string) => Promise<void>;

// The user name fills exactly one RDN value (checked, then RFC 4514-escaped besides).
export function buildLoginDn(template: string, user: string): string {
  if (!USER_NAME.test(user)) throw invalidField('user', 'must be a user name (letters, digits, "_", ".", "-"; at most 32)', user.slice(0, 40));
  return template.replace('%u', escapeDnValue(user));
}

// An empty password would be an anonymous bind that succeeds for anybody (RFC 4513 5.1.2): refused before LDAP.
export function checkPasswordShape(password: string): void {
  if (password === '' || password.length > MAX_PASSWORD) throw new VeError('login-failed', 'prereq', 'user or password wrong');
}

export function createLdapLogin(options: { readonly url: string; readonly timeoutMs: number; readonly userDnTemplate: string }): CheckLogin {
  return async (user, password) => {
    const dn = buildLoginDn(options.userDnTemplate, user);
    checkPasswordShape(password);
    const client = new Client({ url: options.url, timeout: options.timeoutMs, connectTimeout: options.timeoutMs });
    try {
      await client.bind(dn, password);
    } catch (err) {
      if (ldapResultCode(err) === INVALID_CREDENTIALS) throw new VeError('login-failed', 'prereq', 'user or password wrong');
      throw translateLdapError(err, 'bind', dn);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
}
