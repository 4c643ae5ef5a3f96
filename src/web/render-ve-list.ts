// The VE list: the `ve list` columns, filters above (kept across live updates), rows in <main>.
import { VE_STATES } from '../core/ve-state.js';
import type { VeRow } from '../qsub-wrappers/list-ves.js';
import { html, type SafeHtml } from './escape-html.js';
import type { ConsoleQuery } from './parse-console-query.js';

// The filter form; an owner field only for admins (an owner always sees their own VEs).
export function renderVeFilters(query: ConsoleQuery, admin: boolean): SafeHtml {
  return html`<form class="filters" method="get" action="/">
  <label>name contains<input name="q" id="q" value="${query.search ?? ''}" maxlength="64"></label>
  ${admin ? html`<label>owner<input name="owner" id="owner" value="${query.owner ?? ''}" maxlength="32"></label>` : html``}
  <label>state<select name="state" id="state"><option value="">any live</option>${VE_STATES.map((s) => html`<option${s === query.state ? html` selected` : html``}>${s}</option>`)}</select></label>
  <label>host<input name="host" id="host" value="${query.host ?? ''}" maxlength="63"></label>
  <label><span>history</span><input type="checkbox" name="all" value="1"${query.all ? html` checked` : html``}></label>
  <button type="submit">filter</button></form>`;
}

export function stateBadge(state: string): SafeHtml {
  return html`<span class="state state-${state}">${state}</span>`;
}

export function renderVeTable(rows: readonly VeRow[], note: string): SafeHtml {
  if (rows.length === 0) return html`<p class="muted" id="no-ves">No VEs match.${note === '' ? '' : ` ${note}`}</p>`;
  return html`<table id="ves"><thead><tr><th>name</th><th>state</th><th>host</th><th>job</th><th>type</th><th>cpus</th><th>memory</th><th>owner</th><th>image</th><th>nodes</th></tr></thead><tbody>
${rows.map((r) => html`<tr data-job="${r.jobId}" data-state="${r.state}"><td class="name">${r.state === 'pending' ? r.name : html`<a href="/ves/${encodeURIComponent(r.jobId)}">${r.name}</a>`}</td>
<td>${stateBadge(r.state)}</td><td>${r.host === '' ? '-' : html`<a href="/?${new URLSearchParams({ host: r.host }).toString()}">${r.host}</a>`}</td><td>${r.jobId}</td><td>${r.type}</td><td>${r.vcpus}</td><td>${r.memoryMiB} MiB</td><td>${r.owner}</td><td>${r.image}</td><td>${r.nodes}</td></tr>
`)}</tbody></table>${note === '' ? html`` : html`<p class="muted">${note}</p>`}`;
}
