// The frame around every view: navigation, who is logged in, and the <main> live updates replace.
import { html, type SafeHtml } from './escape-html.js';
import type { Session } from './session-store.js';

export type ConsoleView = 'ves' | 'hosts' | 'clusters' | 'drift' | 'alerts' | 'login' | 'error';

const NAV: readonly { readonly view: ConsoleView; readonly href: string; readonly label: string }[] = [
  { view: 'ves', href: '/', label: 'VEs' }, { view: 'hosts', href: '/hosts', label: 'Hosts' }, { view: 'clusters', href: '/clusters', label: 'Clusters' },
  { view: 'drift', href: '/drift', label: 'Drift' }, { view: 'alerts', href: '/alerts', label: 'Alerts' },
];

export interface PageParts {
  readonly title: string;
  readonly view: ConsoleView;
  readonly session: Session | undefined;
  /** above <main>, kept across live updates (the filter form: what the user types stays) */
  readonly header?: SafeHtml;
  readonly main: SafeHtml;
}

// Logged-in pages subscribe to live updates (data-live); the login page does not.
export function renderPage(p: PageParts): string {
  const nav = p.session === undefined ? html`` : html`<nav>${NAV.map((n) => html`<a href="${n.href}"${n.view === p.view ? html` aria-current="page"` : html``}>${n.label}</a>`)}
    <span class="who">${p.session.user}${p.session.admin ? ' (admin)' : ''} · <a href="/logout" id="logout">log out</a></span></nav>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · pbs-ve</title><link rel="stylesheet" href="/assets/console.css"><script src="/assets/console.js" defer></script></head>
<body data-view="${p.view}"${p.session === undefined ? html`` : html` data-live="1"`}>
<header><h1><a href="/">pbs-ve</a> <small>${p.title}</small></h1>${nav}<span id="live" class="live" hidden>live</span></header>
${p.header ?? html``}
<main id="main">${p.main}</main>
</body></html>
`.text;
}
