// Virtual clusters and their members, from the VEs' pbsveCluster/pbsveRole (written from each member's events).
import type { ConsoleVe } from './console-source.js';
import { html, type SafeHtml } from './escape-html.js';
import { stateBadge } from './render-ve-list.js';

export function renderClusters(ves: readonly ConsoleVe[]): SafeHtml {
  // a cluster is its name within its owner's (as in LDAP, pbsveClusterId=<name>.<owner>): two owners' "lab" stay apart
  const clusters = new Map<string, { name: string; owner: string; members: ConsoleVe[] }>();
  for (const ve of ves) {
    if (ve.cluster === undefined) continue;
    const key = `${ve.cluster.name}.${ve.owner}`;
    const entry = clusters.get(key) ?? { name: ve.cluster.name, owner: ve.owner, members: [] };
    entry.members.push(ve);
    clusters.set(key, entry);
  }
  if (clusters.size === 0) return html`<p class="muted" id="no-clusters">No virtual clusters.</p>`;
  return html`${[...clusters.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, c]) => html`<section class="cluster" data-cluster="${key}"><h2>${c.name} <small class="muted">${c.owner}</small></h2><ul>
${c.members.sort((a, b) => a.name.localeCompare(b.name)).map((m) => html`<li><a href="/ves/${encodeURIComponent(m.jobId)}">${m.name}</a> ${m.cluster?.role ?? ''} ${stateBadge(m.state)} ${m.host}</li>`)}</ul></section>`)}`;
}
