// The web console's routes on fastify: pages (server-rendered, escaped), one SSE stream, /metrics. Read-only.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import { VeError } from '../core/ve-error.js';
import { isFinalState } from '../core/ve-state.js';
import { decideAdmin, decideOwnerScope } from '../cli/find-caller.js';
import { validateJobId } from '../inventory/validate-job-id.js';
import { listHosts } from '../qsub-wrappers/list-hosts.js';
import { VE_TYPES } from '../core/ve-type.js';
import type { Batch } from '../batch/batch.js';
import type { Clock } from '../core/clock.js';
import type { Inventory } from '../inventory/inventory.js';
import type { HostInventory } from '../inventory/host-inventory.js';
import type { MonitorStats } from '../ve-monitor/monitor-stats.js';
import type { RaisedAlert } from '../ve-monitor/send-alert.js';
import { buildConsoleVeFilter } from './build-console-ve-filter.js';
import { CONSOLE_SCRIPT, CONSOLE_STYLE } from './console-assets.js';
import type { ConsoleSource } from './console-source.js';
import { html, type SafeHtml } from './escape-html.js';
import type { CheckLogin } from './ldap-login.js';
import { listConsoleVes } from './list-console-ves.js';
import { parseConsoleQuery } from './parse-console-query.js';
import { renderClusters } from './render-clusters.js';
import { renderHosts } from './render-hosts.js';
import { renderLogin } from './render-login.js';
import { renderMetrics } from './render-metrics.js';
import { renderAdminsOnly, renderAlerts, renderDrift } from './render-monitor.js';
import { renderPage, type ConsoleView } from './render-page.js';
import { renderVeDetail } from './render-ve-detail.js';
import { renderVeFilters, renderVeTable } from './render-ve-list.js';
import { createSessionStore, type Session } from './session-store.js';
import { watchLdapChanges } from './watch-ldap-changes.js';

export interface WebConsoleDeps {
  readonly source: ConsoleSource;
  /** read-only: VE details, history, parts */
  readonly inventory: Inventory;
  readonly hosts: HostInventory;
  readonly batch: Batch;
  readonly login: CheckLogin;
  readonly findGroups: (user: string) => Promise<string[]>;
  readonly adminGroup: string | undefined;
  readonly veQueue: string;
  readonly vemonQueue: string;
  readonly readStats: () => MonitorStats;
  readonly readAlerts: () => RaisedAlert[];
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** https: the session cookie is Secure */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** how often the directory's change marker is read while a browser listens; default 1000 ms */
  readonly pollMs?: number;
}

const COOKIE = 'pbsve_session';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

// Errors become pages: bad input 400 and refusals 403 with the (escaped) reason, a service down 503.
function statusOf(err: unknown): number {
  if (!(err instanceof VeError)) return 500;
  if (err.code === 'permission-denied') return 403;
  if (err.code === 'not-found') return 404;
  return err.kind === 'prereq' ? 400 : err.kind === 'environment' ? 503 : 500;
}

export async function buildWebConsole(deps: WebConsoleDeps): Promise<{ readonly app: FastifyInstance; readonly close: () => Promise<void> }> {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, forceCloseConnections: true, ...(deps.tls === undefined ? {} : { https: { cert: deps.tls.cert, key: deps.tls.key } }) });
  await app.register(fastifyCookie, { secret: randomBytes(32) });
  await app.register(fastifyFormbody);
  const sessions = createSessionStore(deps.clock);
  const watcher = watchLdapChanges({ readMarker: () => deps.source.readChangeMarker(), clock: deps.clock, intervalMs: deps.pollMs ?? 1000, log: deps.log });

  const sessionOf = (req: FastifyRequest): Session | undefined => {
    const raw = req.cookies[COOKIE];
    if (raw === undefined) return undefined;
    const unsigned = req.unsignCookie(raw);
    return unsigned.valid && unsigned.value !== null ? sessions.get(unsigned.value) : undefined;
  };
  const isFragment = (req: FastifyRequest): boolean => req.headers['x-console-fragment'] === '1';

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
    if (deps.tls !== undefined) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });

  // One page or its <main> alone (live updates ask with x-console-fragment: 1).
  const page = (req: FastifyRequest, reply: FastifyReply, session: Session, view: ConsoleView, title: string, main: () => Promise<SafeHtml>, header?: () => SafeHtml): Promise<FastifyReply> => {
    return main().then((m) => {
      if (isFragment(req)) return reply.type('text/html; charset=utf-8').send(m.text);
      return reply.type('text/html; charset=utf-8').send(renderPage({ title, view, session, main: m, ...(header === undefined ? {} : { header: header() }) }));
    }, (err: unknown) => {
      const status = statusOf(err);
      if (status >= 500) deps.log(`ve-monitor web: ${req.method} ${req.url.slice(0, 200)}: ${(err as Error).message}`);
      const body = html`<p class="error" id="error">${(err as Error).message}</p>`;
      return reply.code(status).type('text/html; charset=utf-8').send(isFragment(req) ? body.text : renderPage({ title: 'error', view: 'error', session, main: body }));
    });
  };

  // Every route but the login page, the assets and /metrics needs a session.
  const requireSession = (req: FastifyRequest, reply: FastifyReply): Session | undefined => {
    const s = sessionOf(req);
    if (s !== undefined) return s;
    if (isFragment(req) || req.url === '/events') void reply.code(401).send('log in first');
    else void reply.redirect('/login', 303);
    return undefined;
  };

  app.get('/assets/console.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(CONSOLE_SCRIPT));
  app.get('/assets/console.css', (_req, reply) => reply.type('text/css; charset=utf-8').send(CONSOLE_STYLE));

  app.get('/login', (req, reply) => reply.type('text/html; charset=utf-8').send(renderPage({ title: 'log in', view: 'login', session: sessionOf(req), main: renderLogin('', undefined) })));
  app.post('/login', async (req, reply) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const user = typeof body['user'] === 'string' ? body['user'] : '';
    const password = typeof body['password'] === 'string' ? body['password'] : '';
    try {
      await deps.login(user, password);
      const groups = deps.adminGroup === undefined || user === 'root' ? [] : await deps.findGroups(user);
      const id = sessions.create(user, decideAdmin(user, groups, deps.adminGroup));
      deps.log(`ve-monitor web: ${user} logged in from ${req.ip}`);
      return await reply.setCookie(COOKIE, id, { signed: true, httpOnly: true, sameSite: 'strict', secure: deps.tls !== undefined, path: '/' }).redirect('/', 303);
    } catch (err) {
      const status = statusOf(err);
      deps.log(`ve-monitor web: login refused from ${req.ip}: ${(err as Error).message}`);
      // a failed login costs a second: guessing passwords through the console is slow
      await deps.clock.sleep(1000);
      const message = err instanceof VeError && err.kind === 'prereq' ? err.message : 'the directory cannot check logins now; try again later';
      return reply.code(status === 500 ? 503 : status === 400 ? 401 : status).type('text/html; charset=utf-8')
        .send(renderPage({ title: 'log in', view: 'login', session: undefined, main: renderLogin(user.slice(0, 64), message) }));
    }
  });
  app.get('/logout', (req, reply) => {
    const raw = req.cookies[COOKIE];
    const unsigned = raw === undefined ? undefined : req.unsignCookie(raw);
    if (unsigned?.valid === true && unsigned.value !== null) sessions.drop(unsigned.value);
    return reply.clearCookie(COOKIE, { path: '/' }).redirect('/login', 303);
  });

  app.get('/', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    const caller = { user: session.user, admin: session.admin };
    const raw = req.query as Record<string, unknown>;
    return page(req, reply, session, 'ves', 'VEs', async () => {
      const query = parseConsoleQuery(raw);
      const owner = decideOwnerScope(caller, { owner: query.owner, allUsers: session.admin && query.owner === undefined }, deps.adminGroup);
      const scoped = { ...query, ...(owner === undefined ? {} : { owner }) };
      const list = await listConsoleVes({ source: deps.source, batch: deps.batch, veQueue: deps.veQueue }, scoped);
      return renderVeTable(list.rows, list.note);
    }, () => {
      try {
        return renderVeFilters(parseConsoleQuery(raw), session.admin);
      } catch {
        return renderVeFilters({ all: false }, session.admin);
      }
    });
  });

  app.get('/ves/:jobId', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    const { jobId } = req.params as { jobId: string };
    return page(req, reply, session, 'ves', 'VE', async () => {
      const id = validateJobId(jobId);
      const ve = await deps.inventory.getVe(id);
      // another owner's VE is "not found" for an owner: its existence is not confirmed either
      if (ve === undefined || (!session.admin && ve.owner !== session.user)) throw new VeError('not-found', 'prereq', `job ${id}: no VE of yours in the inventory`);
      const [history, parts] = await Promise.all([deps.inventory.listHistory(id), (ve.nodes ?? 1) > 1 ? deps.inventory.listParts(id) : Promise.resolve([])]);
      return renderVeDetail(ve, history, parts);
    });
  });

  app.get('/hosts', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    return page(req, reply, session, 'hosts', 'hosts', async () =>
      renderHosts(await listHosts({ batch: deps.batch, inventory: deps.inventory, hosts: deps.hosts, veQueue: deps.veQueue, veFeatures: VE_TYPES }, session.admin ? undefined : session.user)));
  });

  app.get('/clusters', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    return page(req, reply, session, 'clusters', 'virtual clusters', async () =>
      renderClusters((await deps.source.searchVes(buildConsoleVeFilter({ ...(session.admin ? {} : { owner: session.user }), all: false }))).ves));
  });

  app.get('/drift', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    return page(req, reply, session, 'drift', 'drift', () => Promise.resolve(session.admin ? renderDrift(deps.readStats()) : renderAdminsOnly()));
  });

  app.get('/alerts', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    return page(req, reply, session, 'alerts', 'alerts', () => Promise.resolve(session.admin ? renderAlerts(deps.readAlerts()) : renderAdminsOnly()));
  });

  // Server-sent events: one "change" per directory change, from the one shared loop.
  app.get('/events', (req, reply) => {
    const session = requireSession(req, reply);
    if (session === undefined) return reply;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    const unsubscribe = watcher.subscribe((marker) => { res.write(`event: change\ndata: ${marker.replace(/[\r\n]/g, ' ')}\n\n`); });
    const heartbeat = setInterval(() => { res.write(': keep-alive\n\n'); }, 15_000);
    req.raw.on('close', () => { clearInterval(heartbeat); unsubscribe(); });
    return reply;
  });

  // Prometheus scrapes without a session: counts only, no VE names.
  app.get('/metrics', async (_req, reply) => {
    const settle = async <T>(p: Promise<T>): Promise<T | undefined> => p.then((v) => v, () => undefined);
    const [found, vemonJobs, nodes] = await Promise.all([
      settle(deps.source.searchVes(buildConsoleVeFilter({ all: false }))), settle(deps.batch.listJobs({ queue: deps.vemonQueue })), settle(deps.batch.listNodes()),
    ]);
    const veNodes = nodes?.filter((n) => n.features.some((f) => (VE_TYPES as readonly string[]).includes(f)));
    const out = await renderMetrics({ ves: found?.ves.filter((v) => !isFinalState(v.state)), stats: deps.readStats(), vemonJobs, nodes: veNodes, alerts: deps.readAlerts() });
    return reply.type(out.contentType).send(out.text);
  });

  return { app, close: async () => { watcher.stop(); await app.close(); } };
}
