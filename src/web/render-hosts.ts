// The hosts: the batch system's state, features, the VE load beside the host's size, VEs on each, health note.
import type { HostRow } from '../qsub-wrappers/list-hosts.js';
import { html, type SafeHtml } from './escape-html.js';
import { stateBadge } from './render-ve-list.js';

export function renderHosts(rows: readonly HostRow[]): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">No VE hosts.</p>`;
  return html`<table id="hosts"><thead><tr><th>host</th><th>state</th><th>features</th><th>cpus used</th><th>memory used</th><th>VEs</th><th>note</th><th>last report</th></tr></thead><tbody>
${rows.map((r) => html`<tr data-host="${r.name}"><td>${r.name}</td><td>${stateBadge(r.state)} <span class="muted">${r.rawState}</span></td><td>${r.features.join(', ') || '-'}</td>
<td>${r.veCpus} of ${r.cpus}</td><td>${r.veMemoryMiB} of ${r.memoryMiB === undefined ? '?' : r.memoryMiB} MiB</td>
<td>${r.veCount}${r.ves.length > 0 ? html`: ${r.ves.map((v, i) => html`${i > 0 ? ', ' : ''}<a href="/ves/${encodeURIComponent(v.jobId)}">${v.name}</a>`)}` : html``}${r.ves.length < r.veCount ? html` <span class="muted">(${r.veCount - r.ves.length} of other users)</span>` : html``}</td>
<td>${r.note ?? ''}${r.inventory !== undefined && r.inventory.note !== '' ? ` ${r.inventory.note}` : ''}</td><td>${r.inventory?.lastHeartbeat ?? '-'}</td></tr>
`)}</tbody></table>`;
}
