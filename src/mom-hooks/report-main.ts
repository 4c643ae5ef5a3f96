#!/usr/bin/env node
// ve-host-report: run on every VE host from cron (e.g. every minute), as root. Recovers crashed VEs,
// reports local VE state changes as events, handles orphan domains and resends journalled events.
import { findConfigDir, findHostName, findHostVirt, loadConfig } from '../config/load-config.js';
import { openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { createVeConsole } from '../host/ve-console.js';
import { findUserIds } from '../host/find-user-ids.js';
import { pauseJobBody } from '../host/pause-job-body.js';
import { reportHostVes } from './report-host-ves.js';
import { createVeNetworks } from '../host/ve-networks.js';

const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-host-report');
await runHook('monitor', async () => {
  const hostArg = process.argv.indexOf('--host');
  const host = (hostArg > 0 ? process.argv[hostArg + 1] : undefined) ?? findHostName(process.env);
  const virt = findHostVirt(config, host);
  const batch = openBatch(config);
  const recovery = config.recovery ?? { maxRestarts: 3, windowSeconds: 3600, waitSeconds: 600, orphanGraceSeconds: 600 };
  const networks = createVeNetworks({ stateDir: config.stateDir, log });
  const report = await reportHostVes(host, {
    config, clock: systemClock, log, openVirt: openVirtAt, uris: [virt.lxcUri, virt.qemuUri], events: openEventSink(config, configDir, batch, log, host),
    readLeases: (uri, name) => networks.readLeases(uri, name),
    recovery: {
      batch, console: createVeConsole({ nodePath: config.nodePath, installDir: config.installDir }), findOwner: (user) => findUserIds(user),
      pauseJobBody: (record, uid) => pauseJobBody(record.jobId, uid, log), policy: { maxRestarts: recovery.maxRestarts, windowMs: 1000 * recovery.windowSeconds },
    },
    orphans: { batch, graceMs: 1000 * recovery.orphanGraceSeconds },
  });
  for (const s of report.recovery) if (s.action !== 'skipped') process.stdout.write(`${host}: job ${s.jobId}: ${s.action}: ${s.detail}${s.ms > 0 ? ` (${s.ms} ms)` : ''}\n`);
  for (const o of report.handledOrphans) process.stdout.write(`${host}: orphan ${o.domain} (${o.state}, since ${o.firstSeen}): ${o.outcome === 'kept' ? 'reported' : o.outcome}: ${o.reason}\n`);
  process.stdout.write(`${host}: ${report.changes.length} change(s), ${report.recovery.filter((s) => s.action !== 'skipped').length} recovery step(s), ${report.orphans.length} orphan domain(s), ${report.addressChanges} address change(s), ${report.sent} event(s) sent, ${report.pending} pending\n`);
  return 0;
}, log);
