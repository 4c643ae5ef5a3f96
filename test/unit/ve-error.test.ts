import t from 'tap';
import { VeError, invalidField, toVeError } from '../../src/core/ve-error.js';

void t.test('invalidField names the field, the rule and the value', (t) => {
  const err = invalidField('vcpus', 'must be a whole number from 1 to 64', 'lots');
  t.equal(err.code, 'invalid-field');
  t.equal(err.kind, 'prereq');
  t.equal(err.field, 'vcpus');
  t.equal(err.message, 'vcpus: must be a whole number from 1 to 64 (got "lots")');
  t.end();
});

void t.test('toVeError keeps a VeError and wraps anything else with its cause', (t) => {
  const original = new VeError('x', 'exec', 'boom');
  t.equal(toVeError(original, 'y', 'environment', 'ctx'), original);
  const wrapped = toVeError(new Error('socket closed'), 'ldap-down', 'environment', 'LDAP search');
  t.equal(wrapped.message, 'LDAP search: socket closed');
  t.ok(wrapped.cause instanceof Error);
  t.end();
});
