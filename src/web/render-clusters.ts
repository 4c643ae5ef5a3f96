// Virtual clusters and their members, from the VEs' cluster attribute (issue 13 will write it).
import type { ConsoleVe } from './console-source.js';
import { html, type SafeHtml } from './escape-html.js';
import { stateBadge } from './render-ve-list.js';

export function renderClusters(ves: readonly ConsoleVe[]): SafeHtml {
  const clusters = new Map<string, ConsoleVe[]>();
  for (const ve of ves) if (ve.cluster !== '') clusters.set(ve.cluster, [...(clusters.get(ve.cluster) ?? []), ve]);
  if (clusters.size === 0) return html`<p class="muted" id="no-clusters">No virtual clusters.</p>`;
  return html`${[...clusters.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, members]) => html`<section class="cluster"><h2>${name}</h2><ul>
${members.map((m) => html`<li><a href="/ves/${encodeURIComponent(m.jobId)}">${m.name}</a> ${stateBadge(m.state)} ${m.host}</li>`)}</ul></section>`)}`;
}
