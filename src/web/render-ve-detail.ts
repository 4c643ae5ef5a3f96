// One VE: its attributes and its state history as a timeline, oldest first.
import type { HistoryRecord, VePartRecord } from '../inventory/inventory.js';
import type { ConsoleVe } from './console-source.js';
import { html, type SafeHtml } from './escape-html.js';
import { stateBadge } from './render-ve-list.js';

export function renderVeDetail(ve: ConsoleVe, history: readonly HistoryRecord[], parts: readonly VePartRecord[]): SafeHtml {
  const nics = (ve.nics ?? []).map((n, i) => `nic${i} ${n.network} ${n.mac}${n.ip === undefined ? '' : ` ${n.ip}`}`).join(', ');
  return html`<h2 id="ve-name">${ve.name}</h2>
<dl class="detail"><dt>state</dt><dd id="ve-state">${stateBadge(ve.state)}</dd><dt>job</dt><dd>${ve.jobId}</dd><dt>owner</dt><dd>${ve.owner}</dd>
<dt>type</dt><dd>${ve.type}</dd><dt>image</dt><dd>${ve.image}</dd><dt>size</dt><dd>${ve.vcpus} cpus, ${ve.memoryMiB} MiB${(ve.nodes ?? 1) > 1 ? ` per node, ${ve.nodes ?? 1} nodes` : ''}</dd>
<dt>host</dt><dd>${ve.host || '-'}</dd><dt>domain</dt><dd>${ve.domain || '-'}</dd><dt>networks</dt><dd>${nics || '-'}</dd>
<dt>cluster</dt><dd>${ve.cluster === undefined ? '-' : `${ve.cluster.name} (${ve.cluster.role})`}</dd><dt>last change</dt><dd>${ve.lastChange || '-'}</dd></dl>
${parts.length > 0 ? html`<h3>Parts</h3><table><tr><th>part</th><th>state</th><th>host</th><th>domain</th></tr>${parts.map((p) => html`<tr><td>${p.part}</td><td>${stateBadge(p.state)}</td><td>${p.host}</td><td>${p.domain}</td></tr>`)}</table>` : html``}
<h3>Timeline</h3>
${history.length === 0 ? html`<p class="muted">No state changes recorded yet.</p>` : html`<ol class="timeline" id="timeline">${history.map((h) => html`<li data-state="${h.state}"><time datetime="${h.at}">${h.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time>
 ${h.oldState === undefined ? html`` : html`${stateBadge(h.oldState)} → `}${stateBadge(h.state)}${h.part === undefined ? '' : ` (part ${h.part})`}
 <span class="muted">${h.source}${h.host === '' ? '' : ` on ${h.host}`}${h.reason === '' ? '' : `: ${h.reason}`}</span></li>`)}</ol>`}`;
}
