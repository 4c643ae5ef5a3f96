import t from 'tap';
import { VeError } from '../../src/core/ve-error.js';
import { escapeDnValue } from '../../src/inventory/escape-dn-value.js';
import { buildHistoryDn, buildHostDn, buildImageDn, buildVeDn } from '../../src/inventory/build-inventory-dn.js';
import { buildVeFilter } from '../../src/inventory/build-ve-filter.js';
import { compareJobIds } from '../../src/inventory/compare-job-ids.js';
import { validateJobId } from '../../src/inventory/validate-job-id.js';

void t.test('escapeDnValue follows RFC 4514', (t) => {
  t.equal(escapeDnValue('plain-name.1'), 'plain-name.1');
  t.equal(escapeDnValue('a,b+c=d'), 'a\\,b\\+c\\=d');
  t.equal(escapeDnValue('"q"<x>;\\'), '\\"q\\"\\<x\\>\\;\\\\');
  t.equal(escapeDnValue(' lead'), '\\ lead');
  t.equal(escapeDnValue('trail '), 'trail\\ ');
  t.equal(escapeDnValue(' '), '\\ ', 'a single space is both leading and trailing');
  t.equal(escapeDnValue('#hash#'), '\\#hash#', 'only a leading # is special');
  t.equal(escapeDnValue('nul\u0000\u0001'), 'nul\\00\\01');
  t.equal(escapeDnValue('ünï 😀'), 'ünï 😀', 'UTF-8 stays as it is');
  t.equal(escapeDnValue(''), '');
  t.end();
});

void t.test('inventory DNs', (t) => {
  const base = 'dc=pbs-ve,dc=test';
  t.equal(buildVeDn(base, '123.srv'), 'pbsveJobId=123.srv,ou=ves,dc=pbs-ve,dc=test');
  t.equal(buildVeDn(base, '12[3]'), 'pbsveJobId=12[3],ou=ves,dc=pbs-ve,dc=test');
  t.equal(buildHistoryDn(base, '123.srv', 7), 'pbsveSeq=7,pbsveJobId=123.srv,ou=ves,dc=pbs-ve,dc=test');
  t.equal(buildHostDn(base, 'node1'), 'pbsveHostName=node1,ou=hosts,dc=pbs-ve,dc=test');
  t.equal(buildImageDn(base, 'x,ou=hosts'), 'pbsveImageName=x\\,ou\\=hosts,ou=images,dc=pbs-ve,dc=test');
  t.throws(() => buildVeDn(base, '1,ou=hosts'), { code: 'invalid-field', kind: 'prereq' });
  t.end();
});

void t.test('validateJobId accepts batch job ids only', (t) => {
  for (const ok of ['1', '123.server', '123.srv.example.org', '12[]', '12[3]', '12[3].srv-a']) t.equal(validateJobId(ok), ok);
  for (const bad of ['', 'abc', '1 ', ' 1', '1,x', '1=x', '1.srv/x', '1[a]', '1.', 1, null, '1'.repeat(300)]) {
    t.throws(() => validateJobId(bad), VeError, JSON.stringify(bad));
  }
  t.end();
});

void t.test('buildVeFilter never parses user strings', (t) => {
  t.equal(buildVeFilter({ includeFinal: true }).toString(), '(&(objectClass=pbsveVirtualEnvironment))');
  t.equal(
    buildVeFilter({}).toString(),
    '(&(objectClass=pbsveVirtualEnvironment)(!(|(pbsveState=destroyed)(pbsveState=lost)(pbsveState=failed))))',
  );
  const hostile = buildVeFilter({ includeFinal: true, name: '*)(objectClass=*', owner: 'web1)(|(pbsveOwner=*', host: '\\00\u0000' });
  t.equal(
    hostile.toString(),
    '(&(objectClass=pbsveVirtualEnvironment)(pbsveOwner=web1\\29\\28|\\28pbsveOwner=\\2a)' +
      '(pbsveName=\\2a\\29\\28objectClass=\\2a)(pbsveHost=\\5c00\\00))',
    'shown escaped; on the wire the values are raw BER octets',
  );
  t.end();
});

void t.test('compareJobIds sorts numerically first', (t) => {
  t.same(['10.s', '9.s', '100', '9[2].s', '9[10].s', '1'].sort(compareJobIds), ['1', '9.s', '9[10].s', '9[2].s', '10.s', '100']);
  t.end();
});
