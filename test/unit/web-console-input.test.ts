// The web console's pure defences: escaping, query checking, LDAP filters from filter objects, login DNs, listen rules.
import t from 'tap';
import { escapeHtml, html, SafeHtml } from '../../src/web/escape-html.js';
import { parseConsoleQuery } from '../../src/web/parse-console-query.js';
import { buildConsoleVeFilter } from '../../src/web/build-console-ve-filter.js';
import { buildLoginDn, checkPasswordShape } from '../../src/web/ldap-login.js';
import { decideWebListen } from '../../src/web/decide-web-listen.js';
import { renderVeTable } from '../../src/web/render-ve-list.js';
import { renderLogin } from '../../src/web/render-login.js';
import { parseConfig } from '../../src/config/load-config.js';

void t.test('text is escaped for element content and quoted attributes; only html`` makes markup', (t) => {
  t.equal(escapeHtml(`<script>alert("x")</script>&'\``), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;');
  const name = '<img src=x onerror=alert(1)>';
  t.equal(html`<td title="${name}">${name}</td>`.text, '<td title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;</td>');
  t.equal(html`<p>${html`<b>${'<i>'}</b>`}</p>`.text, '<p><b>&lt;i&gt;</b></p>', 'nested markup stays, its values escaped');
  t.equal(html`${['<a>', 1, undefined, null, false]}`.text, '&lt;a&gt;1', 'lists join, absent values vanish');
  t.ok(html`x` instanceof SafeHtml);
  t.end();
});

void t.test('a hostile VE name and owner are shown escaped in the VE table', (t) => {
  const row = { name: '<script>alert(1)</script>', state: 'running' as const, host: 'node1"><b', jobId: '12', type: 'lxc' as const, vcpus: 1, memoryMiB: 64, owner: 'a&b', image: 'img', lastChange: '', nodes: 1 };
  const out = renderVeTable([row], '').text;
  t.notMatch(out, /<script>/);
  t.match(out, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.match(out, /href="\/\?host=node1%22%3E%3Cb"/, 'host link built with URLSearchParams');
  t.match(out, /a&amp;b/);
  t.notMatch(renderLogin('"><script>', 'bad <b>').text, /<script>|<b>/);
  t.end();
});

void t.test('query parameters: checked, named in the error, or ignored when unknown', (t) => {
  t.same(parseConsoleQuery({}), { all: false });
  t.same(parseConsoleQuery({ owner: 'alice', state: 'running', host: 'node1', q: 'web', all: '1', utm: 'x' }), { owner: 'alice', state: 'running', host: 'node1', search: 'web', all: true });
  t.same(parseConsoleQuery({ state: 'failed' }), { state: 'failed', all: true }, 'a final state is history');
  t.same(parseConsoleQuery({ q: '*)(objectClass=*' }), { search: '*)(objectClass=*', all: false }, 'search text may hold filter syntax: it is matched, not parsed');
  t.throws(() => parseConsoleQuery({ owner: '<script>' }), { code: 'invalid-field', field: 'owner' });
  t.throws(() => parseConsoleQuery({ owner: 'bob)(pbsveOwner=*' }), { code: 'invalid-field', field: 'owner' });
  t.throws(() => parseConsoleQuery({ state: 'running)(x=*' }), { code: 'invalid-field', field: 'state' });
  t.throws(() => parseConsoleQuery({ host: 'node1*' }), { code: 'invalid-field', field: 'host' });
  t.throws(() => parseConsoleQuery({ q: 'a\u0000b' }), { code: 'invalid-field', field: 'q' });
  t.throws(() => parseConsoleQuery({ q: 'x'.repeat(65) }), { code: 'invalid-field', field: 'q' });
  t.throws(() => parseConsoleQuery({ q: ['a', 'b'] }), { code: 'invalid-field', field: 'q', message: /must be given once/ });
  t.throws(() => parseConsoleQuery({ all: 'yes' }), { code: 'invalid-field', field: 'all' });
  t.end();
});

void t.test('the console filter is built from filter objects: metacharacters travel as values', (t) => {
  t.equal(buildConsoleVeFilter({ all: true }).toString(), '(&(objectClass=pbsveVirtualEnvironment))');
  t.equal(buildConsoleVeFilter({ owner: 'alice', all: false }).toString(),
    '(&(objectClass=pbsveVirtualEnvironment)(pbsveOwner=alice)(!(|(pbsveState=destroyed)(pbsveState=lost)(pbsveState=failed))))');
  t.equal(buildConsoleVeFilter({ search: '*)(objectClass=*\\', state: 'running', host: 'node1', all: true }).toString(),
    '(&(objectClass=pbsveVirtualEnvironment)(pbsveState=running)(pbsveHost=node1)(pbsveName=*\\2a\\29\\28objectClass=\\2a\\5c*))');
  t.end();
});

void t.test('login: the user name fills one RDN value, an empty password is refused before LDAP', (t) => {
  t.equal(buildLoginDn('uid=%u,ou=people,dc=x', 'alice'), 'uid=alice,ou=people,dc=x');
  t.throws(() => buildLoginDn('uid=%u,ou=people,dc=x', 'a,ou=admins'), { code: 'invalid-field', field: 'user' });
  t.throws(() => buildLoginDn('uid=%u,ou=people,dc=x', '*'), { code: 'invalid-field', field: 'user' });
  t.throws(() => buildLoginDn('uid=%u,ou=people,dc=x', ''), { code: 'invalid-field', field: 'user' });
  t.throws(() => { checkPasswordShape(''); }, { code: 'login-failed' }, 'an unauthenticated bind would succeed for anybody');
  t.throws(() => { checkPasswordShape('x'.repeat(1025)); }, { code: 'login-failed' });
  checkPasswordShape('secret');
  const base = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} } };
  t.equal(parseConfig({ ...base, web: { userDnTemplate: 'uid=%u,ou=people,dc=x' } }).web?.userDnTemplate, 'uid=%u,ou=people,dc=x');
  t.throws(() => parseConfig({ ...base, web: { userDnTemplate: 'ou=people,dc=x' } }), { code: 'invalid-config', field: 'web.userDnTemplate' });
  t.throws(() => parseConfig({ ...base, web: { userDnTemplate: 'uid=%u,cn=%u' } }), { code: 'invalid-config', field: 'web.userDnTemplate' });
  t.throws(() => parseConfig({ ...base, web: { userDnTemplate: 'uid=%u,dc=x', tlsCertFile: '/c.pem' } }), { code: 'invalid-config', field: 'web.tlsKeyFile' });
  t.end();
});

void t.test('plain HTTP only on loopback; TLS anywhere', (t) => {
  t.same(decideWebListen('127.0.0.1:8443', {}), { host: '127.0.0.1', port: 8443 });
  t.same(decideWebListen('[::1]:9000', {}), { host: '::1', port: 9000 });
  t.throws(() => decideWebListen('0.0.0.0:8443', {}), { code: 'plain-http-refused', field: 'listen' });
  t.throws(() => decideWebListen('localhost:8443', {}), { code: 'plain-http-refused' }, 'a name could resolve anywhere');
  t.throws(() => decideWebListen('10.0.0.5:443', { certFile: '/c.pem' }), { code: 'invalid-field', field: 'tls-key' });
  t.same(decideWebListen('10.0.0.5:443', { certFile: '/c.pem', keyFile: '/k.pem' }), { host: '10.0.0.5', port: 443, tls: { certFile: '/c.pem', keyFile: '/k.pem' } });
  t.throws(() => decideWebListen('127.0.0.1', {}), { code: 'invalid-field', field: 'listen' });
  t.throws(() => decideWebListen('127.0.0.1:70000', {}), { code: 'invalid-field' });
  t.end();
});
