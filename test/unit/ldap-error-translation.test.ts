import t from 'tap';
import {
  AlreadyExistsError, ConstraintViolationError, InsufficientAccessError, InvalidCredentialsError, NoSuchAttributeError,
  ObjectClassViolationError, UnavailableError, UnknownStatusCodeError,
} from 'ldapts';
import { VeError } from '../../src/core/ve-error.js';
import { ldapResultCode, translateLdapError } from '../../src/inventory/translate-ldap-error.js';

void t.test('LDAP result codes map to stable codes and kinds', (t) => {
  const cases: [Error, string, string, number][] = [
    [new InvalidCredentialsError(), 'inventory-auth', 'environment', 49],
    [new InsufficientAccessError(), 'inventory-denied', 'environment', 50],
    [new UnavailableError(), 'inventory-unavailable', 'environment', 52],
    [new ObjectClassViolationError('missing pbsveSeq'), 'inventory-rejected', 'exec', 65],
    [new ConstraintViolationError(), 'inventory-rejected', 'exec', 19],
    [new AlreadyExistsError(), 'inventory-exists', 'exec', 68],
    [new NoSuchAttributeError(), 'inventory-failed', 'exec', 16],
    [new UnknownStatusCodeError(122), 'inventory-failed', 'exec', 122],
  ];
  for (const [err, code, kind, resultCode] of cases) {
    const ve = translateLdapError(err, 'modify', 'pbsveJobId=1,ou=ves');
    t.match(ve, { code, kind, details: { resultCode, operation: 'modify', dn: 'pbsveJobId=1,ou=ves' } }, err.name);
    t.equal(ve.cause, err);
    t.equal(ldapResultCode(err), resultCode);
  }
  t.match(translateLdapError(new ObjectClassViolationError('missing pbsveSeq'), 'add').message,
    'LDAP add: ObjectClassViolationError (result code 65): missing pbsveSeq');
  t.end();
});

void t.test('socket failures are environment, programming errors are not', (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  t.match(translateLdapError(refused, 'search'), { code: 'inventory-unavailable', kind: 'environment', details: { errno: 'ECONNREFUSED' } });
  t.match(translateLdapError(new Error('SearchRequest: Operation timed out'), 'search'), { code: 'inventory-unavailable' });
  t.match(translateLdapError(new TypeError('x is undefined'), 'search'), { code: 'inventory-failed', kind: 'exec' });
  const original = new VeError('invalid-field', 'prereq', 'x');
  t.equal(translateLdapError(original, 'add'), original);
  t.equal(ldapResultCode(refused), undefined);
  t.end();
});
