// The vemon side's own view: the drift report of the last reconcile pass and the alerts raised.
import type { MonitorStats } from '../ve-monitor/monitor-stats.js';
import type { RaisedAlert } from '../ve-monitor/send-alert.js';
import { html, type SafeHtml } from './escape-html.js';

export function renderDrift(stats: MonitorStats): SafeHtml {
  const r = stats.reconcile;
  if (r === undefined) return html`<p class="muted">No reconcile pass recorded yet (ve-monitor reconcile, from cron on the vemon node).</p>`;
  return html`<p id="drift-summary">Last pass ${r.at}, ${r.durationSeconds.toFixed(2)} s: ${r.driftCount} drift item(s), ${r.orphans} orphan domain(s).</p>
${r.drift.length === 0 ? html`` : html`<table id="drift"><tr><th>job</th><th>name</th><th>finding</th><th>from → to</th><th>changed</th><th>detail</th></tr>
${r.drift.map((d) => html`<tr><td>${d.jobId}</td><td>${d.name}</td><td>${d.finding}</td><td>${d.from || '(none)'} → ${d.to}</td><td>${d.changed ? 'yes' : 'no'}</td><td>${d.detail}</td></tr>`)}</table>`}`;
}

export function renderAlerts(alerts: readonly RaisedAlert[]): SafeHtml {
  if (alerts.length === 0) return html`<p class="muted" id="no-alerts">No alerts in the last 6 hours.</p>`;
  return html`<table id="alerts"><tr><th>kind</th><th>about</th><th>last sent</th></tr>
${[...alerts].sort((a, b) => b.at.localeCompare(a.at)).map((a) => html`<tr><td>${a.kind}</td><td>${a.key}</td><td>${a.at}</td></tr>`)}</table>`;
}

export function renderAdminsOnly(): SafeHtml {
  return html`<p class="muted">This view is for administrators.</p>`;
}
