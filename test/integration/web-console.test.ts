// The web console (ve-monitor web) against the real sandbox, driven in Debian's Chromium (playwright-core, no
// browser download): login by LDAP bind as an owner and as an admin, a VE appearing as running live after
// `ve create`, its timeline, list isolation, hostile inputs shown escaped or refused, /metrics, TLS and the
// loopback rule. Measures in the browser the page load time and the update delay after `ve create`.
// backends: slurm torque
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runCommand, type CommandResult } from '../../src/core/run-command.js';
import { PROJECT_DIR, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { runVeAs } from '../../src/sandbox/run-demo.js';
import { createLdapInventory } from '../../src/inventory/ldap-inventory.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { runVeMonitor } from '../harness/run-ve-monitor.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';
import { sleep, waitFor } from '../harness/wait-for.js';

const USER1 = 'pbsve-user1';
const USER2 = 'pbsve-user2';
const ADMIN = 'pbsve-webadm';
const ADMIN_GROUP = 'pbsvewebadm';
const PASSWORDS: Readonly<Record<string, string>> = { [USER1]: 'user1-Secret', [USER2]: 'user2-Secret', [ADMIN]: 'admin-Secret' };
const MONITOR = join(PROJECT_DIR, 'dist/src/ve-monitor/main.js');
const CHROMIUM = '/usr/bin/chromium';
/** where the screenshots go: docs/web-console when asked for (PBS_VE_WEB_SCREENSHOTS=docs/web-console), else the sandbox */
const SCREENSHOT_ENV = 'PBS_VE_WEB_SCREENSHOTS';

let info: SandboxInfo;
let control: BatchControl;
let base = '';
let browser: Browser | undefined;
const stopWeb = new AbortController();
let web: Promise<CommandResult | Error> | undefined;
const dialogs: string[] = [];
const figures: string[] = [];

// a port nobody holds now (the sandbox's range is its own; the console takes one outside it)
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0); });
    });
  });
}

// Login entries the console binds as (a site has them already: its people branch); added over ldapi as root.
async function addPeople(): Promise<void> {
  const hashes = await Promise.all(Object.values(PASSWORDS).map(async (p) => (await runCommand('slappasswd', ['-s', p], {})).stdout.trim()));
  const ldif = [`dn: ou=people,${info.baseDn}\nobjectClass: organizationalUnit\nou: people\n`,
    ...Object.keys(PASSWORDS).map((u, i) => `dn: uid=${u},ou=people,${info.baseDn}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: ${u}\nuserPassword: ${hashes[i] ?? ''}\n`)].join('\n');
  const socket = encodeURIComponent(join(info.dir, 'ldap', 'ldapi'));
  const r = await runCommand('ldapadd', ['-Q', '-Y', 'EXTERNAL', '-H', `ldapi://${socket}`], { input: ldif });
  if (r.exitCode !== 0) throw new Error(`ldapadd people: ${r.stderr}`);
}

function editVemonConfig(change: (c: Record<string, unknown>) => Record<string, unknown>): void {
  const file = join(info.vemonConfigDir, 'config.json');
  writeFileSync(file, `${JSON.stringify(change(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), null, 2)}\n`, { mode: 0o644 });
}

function startWeb(args: readonly string[]): Promise<CommandResult | Error> {
  return runCommand(process.execPath, [MONITOR, 'web', ...args], { env: info.vemonEnv, timeoutMs: 40 * 60_000, cancelSignal: stopWeb.signal }).catch((e: unknown) => e as Error);
}

useSandbox(t, {
  prefix: '/tmp/pbsve-web-', users: [USER1, USER2, ADMIN],
  ready: async (started) => {
    info = started;
    control = openBatchControl(started);
    await runCommand('groupadd', ['-f', ADMIN_GROUP], {});
    await runCommand('usermod', ['-a', '-G', ADMIN_GROUP, ADMIN], {});
    await addPeople();
    editVemonConfig((c) => ({ ...c, adminGroup: ADMIN_GROUP, web: { userDnTemplate: `uid=%u,ou=people,${info.baseDn}` } }));
    const port = await findFreePort();
    base = `http://127.0.0.1:${port}`;
    web = startWeb(['--listen', `127.0.0.1:${port}`]);
    await waitFor('ve-monitor web to answer', 30_000, async () => (await fetch(`${base}/login`).then((r) => r.status, () => 0)) === 200 ? true : undefined);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  },
  beforeStop: async () => {
    await browser?.close();
    stopWeb.abort();
    const ended = await web;
    if (ended !== undefined && !(ended instanceof Error)) t.comment(`ve-monitor web ended: ${ended.stderr.slice(-500)}`);
    for (const j of await control.listJobs()) if (j.queue === 'batch' && j.state !== 'completed') await control.batch.cancel(j.jobId);
    for (const f of figures) t.comment(f);
  },
});

async function newPage(): Promise<Page> {
  if (browser === undefined) throw new Error('no browser');
  const context = await browser.newContext({ viewport: { width: 1200, height: 720 } });
  const page = await context.newPage();
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  return page;
}

async function login(page: Page, user: string, password = PASSWORDS[user] ?? ''): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#login')]);
}

async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env[SCREENSHOT_ENV] ?? join(info.dir, 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

interface PageRow { name: string; state: string; owner: string; job: string }

// the test's tsconfig has no DOM types: what runs in the page is given as text
async function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

async function rowsOf(page: Page): Promise<PageRow[]> {
  return inPage<PageRow[]>(page, `[...document.querySelectorAll('#ves tbody tr')].map((tr) => ({
    name: tr.querySelector('td.name')?.textContent ?? '', state: tr.dataset.state ?? '', owner: tr.children[7]?.textContent ?? '', job: tr.dataset.job ?? '' }))`);
}

async function createVe(user: string, name: string, wait: boolean): Promise<string> {
  const r = await runVeAs(info, user, ['create', name, '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h', ...(wait ? ['--wait', '4m'] : ['--no-wait'])], 300_000);
  if (r.exitCode !== 0) throw new Error(`ve create ${name} as ${user}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

let otherJob = '';

void t.test('login: wrong password and hostile user names are refused, shown escaped', async (t) => {
  const page = await newPage();
  await login(page, USER1, 'wrong');
  t.match(await page.textContent('#login-error') ?? '', /user or password wrong/);
  await login(page, '<script>alert(1)</script>', 'x');
  t.match(await page.textContent('#login-error') ?? '', /user: must be a user name/);
  t.equal(await page.inputValue('#user'), '<script>alert(1)</script>', 'the name comes back as text in the field');
  await login(page, USER1, '');
  t.equal(new URL(page.url()).pathname, '/login', 'an empty password never binds anonymously');
  await login(page, 'x)(uid=*', 'x');
  t.match(await page.textContent('#login-error') ?? '', /user: must be a user name/);
  const r = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(r.status, 303, 'no session: to the login page');
  t.equal((await fetch(`${base}/events`)).status, 401, 'no session: no live stream');
  const forged = await fetch(`${base}/`, { redirect: 'manual', headers: { cookie: 'pbsve_session=abc.def' } });
  t.equal(forged.status, 303, 'a forged cookie is no session');
  await page.context().close();
});

void t.test('an owner sees their VE appear as running live after ve create, and its timeline', async (t) => {
  otherJob = await createVe(USER2, 'other1', true);
  const page = await newPage();
  await login(page, USER1);
  t.equal(new URL(page.url()).pathname, '/');
  await page.waitForSelector('#live:not([hidden])');
  // page load time, as the browser measures it (navigation start to load event), a few fresh loads
  const loads: number[] = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(`${base}/`);
    loads.push(await inPage<number>(page, `(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()`));
  }
  loads.sort((a, b) => a - b);
  figures.push(`page load (VE list, ${info.batch}): median ${loads[2]?.toFixed(0)} ms, min ${loads[0]?.toFixed(0)} ms, max ${loads[4]?.toFixed(0)} ms (5 loads)`);
  await page.waitForSelector('#live:not([hidden])');
  t.notOk((await rowsOf(page)).some((r) => r.name === 'other1'), "another owner's VE is not listed");

  // the moment LDAP shows the VE running, seen from here (50 ms polls), against the moment the page showed it
  const reader = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn, timeoutMs: 10_000 });
  const jobId = await createVe(USER1, 'web1', false);
  const ldapRunning = waitFor('web1 running in LDAP', 300_000, async () => ((await reader.getVe(jobId))?.state === 'running' ? Date.now() : undefined), 50);
  // polled from here: waitForFunction evaluates a string in the page, which the console's CSP forbids (as it should)
  await waitFor('the page to show web1 running', 300_000, async () => ((await rowsOf(page)).some((r) => r.name === 'web1' && r.state === 'running') ? true : undefined), 50);
  const shownAt = Date.now();
  const inLdapAt = await ldapRunning;
  const updatedAt = await inPage<number>(page, 'window.pbsveUpdatedAt ?? 0');
  await reader.close();
  figures.push(`update delay after ve create (${info.batch}): LDAP running -> page shows it: ${Math.max(0, updatedAt - inLdapAt)} ms (page swapped its list at +${updatedAt - inLdapAt} ms, test saw it at +${shownAt - inLdapAt} ms)`);
  t.ok(updatedAt > 0, 'shown by a live update, not a reload');
  await screenshot(page, 've-list-owner');

  await Promise.all([page.waitForLoadState('load'), page.click(`#ves a[href="/ves/${encodeURIComponent(jobId)}"]`)]);
  t.equal(await page.textContent('#ve-name'), 'web1');
  const steps = await inPage<string[]>(page, `[...document.querySelectorAll('#timeline li')].map((li) => li.dataset.state ?? '')`);
  t.ok(steps.includes('running'), `the timeline shows the way to running (${steps.join(' -> ')})`);
  await screenshot(page, 've-detail-timeline');

  const other = await page.goto(`${base}/ves/${encodeURIComponent(otherJob)}`);
  t.equal(other?.status(), 404, "another owner's VE detail is not found");
  const scoped = await page.goto(`${base}/?owner=${USER2}`);
  t.equal(scoped?.status(), 403, "asking for another owner's list is refused");
  t.match(await page.textContent('#error') ?? '', /only root and members of group/);
  await page.context().close();
});

void t.test('hostile inputs: query strings and inventory text are shown escaped or refused, nothing runs', async (t) => {
  // an entry with markup in its name and reason, as a broken or hostile writer could leave it
  const writer = createLdapInventory({ url: info.ldapUrl, baseDn: info.baseDn, timeoutMs: 10_000, bindDn: info.writerDn, password: info.writerPassword });
  const now = new Date().toISOString();
  await writer.createVe({ jobId: '990001', name: '<script>alert("name")</script>', owner: USER1, type: 'lxc', image: '<img src=x onerror=alert(2)>', vcpus: 1, memoryMiB: 64, state: 'stopped', host: 'node2', domain: '', seq: 1, lastChange: now });
  await writer.addHistory({ jobId: '990001', seq: 1, state: 'stopped', oldState: 'running', at: now, host: 'node2', source: 'operation', reason: '"><svg onload=alert(3)>' });
  await writer.close();
  const page = await newPage();
  await login(page, USER1);
  const names = (await rowsOf(page)).map((r) => r.name);
  t.ok(names.includes('<script>alert("name")</script>'), 'the hostile name is listed as text');
  t.equal(await page.$$eval('#main script, #main img, #main svg', (els) => els.length), 0, 'no element came out of inventory text');
  await page.goto(`${base}/ves/990001`);
  t.match(await page.textContent('#timeline') ?? '', /"><svg onload=alert\(3\)>/);
  await screenshot(page, 'hostile-entry-escaped');

  await page.goto(`${base}/?q=${encodeURIComponent('<script>alert(4)</script>')}`);
  t.equal(await page.inputValue('#q'), '<script>alert(4)</script>', 'the search text is back in its field, as text');
  t.ok(await page.isVisible('#no-ves'), 'and matches nothing');
  await page.goto(`${base}/?q=${encodeURIComponent('*')}`);
  t.ok(await page.isVisible('#no-ves'), '"*" is a character to find, not a wildcard');
  await page.goto(`${base}/?q=${encodeURIComponent('*)(objectClass=*')}`);
  t.ok(await page.isVisible('#no-ves'), 'filter syntax in the search matches nothing');
  await page.goto(`${base}/?q=web`);
  t.same((await rowsOf(page)).map((r) => r.name), ['web1'], 'a plain search finds by part of the name');
  for (const [query, field] of [['state=running)(pbsveOwner=*', 'state'], ['host=node1*', 'host'], [`owner=${encodeURIComponent('<b>x</b>')}`, 'owner']] as const) {
    const r = await page.goto(`${base}/?${query}`);
    t.equal(r?.status(), 400, `${query}: refused`);
    t.match(await page.textContent('#error') ?? '', new RegExp(`^${field}: `), `names the field ${field}`);
  }
  t.equal(await page.$$eval('#main b', (els) => els.length), 0, 'the refused value is shown as text');
  const bad = await page.goto(`${base}/ves/${encodeURIComponent('1)(x=*')}`);
  t.equal(bad?.status(), 400, 'a job id that is none is refused');
  t.same(dialogs, [], 'no script ran');
  await page.context().close();
});

void t.test('an admin sees every VE, the hosts, clusters, drift and alerts; /metrics counts', async (t) => {
  const rec = await runVeMonitor(info, ['reconcile']);
  t.equal(rec.exitCode, 0, `ve-monitor reconcile: ${rec.stderr}`);
  const page = await newPage();
  await login(page, ADMIN);
  t.match(await page.textContent('.who') ?? '', /\(admin\)/);
  const rows = await rowsOf(page);
  t.ok(rows.some((r) => r.name === 'web1') && rows.some((r) => r.name === 'other1'), 'both owners\' VEs');
  await screenshot(page, 've-list-admin');
  await page.goto(`${base}/?owner=${USER2}`);
  t.same((await rowsOf(page)).map((r) => r.owner), [USER2], 'filtered by owner');
  await page.goto(`${base}/hosts`);
  t.ok(await page.isVisible('#hosts tr[data-host="node1"]'));
  t.match(await page.textContent('#hosts') ?? '', /web1|other1/, 'VEs on each host');
  await screenshot(page, 'hosts');
  await page.goto(`${base}/clusters`);
  t.ok(await page.isVisible('#no-clusters'), 'no virtual clusters yet');
  await page.goto(`${base}/drift`);
  t.match(await page.textContent('#drift-summary') ?? '', /Last pass .* drift item/);
  t.match(await page.textContent('#drift') ?? '', /990001/, 'the planted entry without a job is drift');
  await screenshot(page, 'drift');
  await page.goto(`${base}/alerts`);
  t.ok(await page.isVisible('#no-alerts') || await page.isVisible('#alerts'));
  await Promise.all([page.waitForLoadState('load'), page.click('#logout')]);
  t.equal(new URL(page.url()).pathname, '/login');
  const again = await page.goto(`${base}/hosts`);
  t.equal(new URL(again?.url() ?? '').pathname, '/login', 'logged out: the session is gone');
  await screenshot(page, 'login');
  await page.context().close();

  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /pbsve_ves\{state="running",type="lxc",host="node\d"\} [12]\n/);
  t.match(metrics, /pbsve_events_applied_total [1-9]\d*\n/, 'events the vemon jobs applied');
  t.match(metrics, /pbsve_event_lag_seconds_count [1-9]\d*\n/);
  t.match(metrics, /pbsve_vemon_queue_jobs\{state="queued"\} \d+\n/);
  t.match(metrics, /pbsve_reconcile_drift_items [1-9]\d*\n/);
  t.match(metrics, /pbsve_host_up\{host="node1",state="(free|busy)"\} 1\n/);
  t.match(metrics, /pbsve_ldap_up 1\n/);
  t.match(metrics, /pbsve_batch_up 1\n/);
  const lag = /pbsve_event_lag_seconds_sum ([\d.e+-]+)\npbsve_event_lag_seconds_count (\d+)/.exec(metrics);
  if (lag !== null) figures.push(`event lag (host event -> LDAP apply, ${info.batch}): mean ${(Number(lag[1]) / Number(lag[2])).toFixed(2)} s over ${lag[2]} events`);
});

void t.test('plain HTTP only on loopback; TLS with the certificate the admin names', async (t) => {
  const refused = await runCommand(process.execPath, [MONITOR, 'web', '--listen', '0.0.0.0:1'], { env: info.vemonEnv, timeoutMs: 30_000 });
  t.equal(refused.exitCode, 2);
  t.match(refused.stderr, /plain HTTP only on a loopback address/);
  const dir = join(info.dir, 'tls');
  mkdirSync(dir, { recursive: true });
  const gen = await runCommand('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { timeoutMs: 60_000 });
  t.equal(gen.exitCode, 0, gen.stderr);
  const port = await findFreePort();
  const stopTls = new AbortController();
  const tlsWeb = runCommand(process.execPath, [MONITOR, 'web', '--listen', `127.0.0.1:${port}`, '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], { env: info.vemonEnv, timeoutMs: 10 * 60_000, cancelSignal: stopTls.signal }).catch((e: unknown) => e);
  try {
    const context = await browser?.newContext({ ignoreHTTPSErrors: true });
    const page = await context?.newPage();
    if (page === undefined) throw new Error('no browser');
    await waitFor('the TLS console', 30_000, async () => ((await page.goto(`https://127.0.0.1:${port}/login`).catch(() => undefined))?.status() === 200 ? true : undefined), 300);
    await page.fill('#user', USER1);
    await page.fill('#password', PASSWORDS[USER1] ?? '');
    await Promise.all([page.waitForLoadState('load'), page.click('#login')]);
    const cookie = (await context?.cookies())?.find((c) => c.name === 'pbsve_session');
    t.ok(cookie?.secure === true && cookie.httpOnly && cookie.sameSite === 'Strict', 'the session cookie is Secure, HttpOnly, SameSite=Strict');
    t.ok((await rowsOf(page)).some((r) => r.name === 'web1'), 'served over TLS');
    await context?.close();
  } finally {
    stopTls.abort();
    await tlsWeb;
    await sleep(100);
  }
});
