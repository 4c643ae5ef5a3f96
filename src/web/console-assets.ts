// The console's only script and style sheet, served from /assets (the CSP allows scripts from 'self' only).

/** Live updates: on each change the server pushes, the current view's <main> is fetched again and swapped. */
export const CONSOLE_SCRIPT = `'use strict';
(() => {
  if (document.body.dataset.live !== '1') return;
  const badge = document.getElementById('live');
  let busy = false, again = false;
  const refresh = async (marker) => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.href, { headers: { 'x-console-fragment': '1' }, credentials: 'same-origin', cache: 'no-store' });
      if (r.status === 401) { location.assign('/login'); return; }
      if (r.ok) {
        document.getElementById('main').innerHTML = await r.text();
        document.body.dataset.marker = marker;
        window.pbsveUpdatedAt = Date.now();
        window.pbsveUpdates = (window.pbsveUpdates || 0) + 1;
      }
    } finally {
      busy = false;
      if (again) { again = false; void refresh(marker); }
    }
  };
  const events = new EventSource('/events');
  events.addEventListener('open', () => { if (badge) badge.hidden = false; });
  events.addEventListener('error', () => { if (badge) badge.hidden = true; });
  events.addEventListener('change', (e) => { void refresh(e.data); });
  window.pbsveLoadedAt = Date.now();
})();
`;

export const CONSOLE_STYLE = `
body { font: 14px/1.4 "DejaVu Sans", sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2a44; color: #fff; padding: 8px 16px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; } header h1 a { color: #fff; text-decoration: none; } header small { font-weight: normal; opacity: .8; }
nav { display: flex; gap: 14px; align-items: center; flex: 1; } nav a { color: #cfe0ff; } nav a[aria-current] { color: #fff; font-weight: bold; }
nav .who { margin-left: auto; opacity: .9; } .live { background: #2e8b57; border-radius: 8px; padding: 1px 8px; font-size: 12px; }
main, form.filters, .notice { margin: 12px 16px; } table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border-bottom: 1px solid #e1e4ea; padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #eef1f6; }
.state { border-radius: 8px; padding: 0 6px; font-size: 12px; background: #ddd; } .state-running, .state-up, .state-free { background: #c9f0d6; }
.state-pending, .state-starting { background: #fff1c2; } .state-failed, .state-lost, .state-down { background: #ffd0d0; } .state-stopped, .state-suspended, .state-offline, .state-busy { background: #dfe7ff; }
form.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; } form.filters label { display: flex; flex-direction: column; font-size: 12px; }
ol.timeline { list-style: none; padding-left: 0; border-left: 3px solid #9fb3d9; margin-left: 8px; }
ol.timeline li { margin: 0 0 10px 0; padding-left: 14px; position: relative; } ol.timeline li::before { content: ""; position: absolute; left: -8px; top: 5px; width: 11px; height: 11px; border-radius: 6px; background: #1d2a44; }
.error { background: #ffe3e3; border: 1px solid #e99; padding: 8px; } .muted { color: #667; } dl.detail { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
.login { max-width: 320px; margin: 60px auto; background: #fff; padding: 20px; border: 1px solid #dde; } .login label { display: block; margin-bottom: 8px; } .login input { width: 100%; }
`;
