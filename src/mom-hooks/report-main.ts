#!/usr/bin/env node
// ve-host-report: run on every VE host from cron (e.g. every minute), as root. Recovers crashed VEs,
// reports local VE state changes as events, handles orphan domains and resends journalled events.
import { Command } from 'commander';
import { findConfigDir, findHostName, findHostVirt, loadConfig } from '../config/load-config.js';
import { openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { createVeConsole } from '../host/ve-console.js';
import { findUserIds } from '../host/find-user-ids.js';
import { reportHostVes } from './report-host-ves.js';
import { createVeNetworks } from '../host/ve-networks.js';
import { teardownVe } from '../epilogue/teardown-ve.js';
import { createLocalVeDisks } from '../host/ve-disks.js';

// arguments first: --help answers before any config is read or any VE is touched
const options = new Command('ve-host-report')
  .description('(cron on VE hosts, root) recover crashed VEs, report VE state changes, handle orphan domains, resend journalled events')
  .option('--host <name>', 'this host as the batch system names it (default: SLURMD_NODENAME or the short host name)')
  .option('--json', 'print what the run did as one JSON object')
  .parse(process.argv)
  .opts<{ host?: string; json?: boolean }>();
const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-host-report');
await runHook('monitor', async () => {
  const host = options.host ?? findHostName(process.env);
  const virt = findHostVirt(config, host);
  const batch = openBatch(config);
  const recovery = config.recovery ?? { maxRestarts: 3, windowSeconds: 3600, waitSeconds: 600, orphanGraceSeconds: 600 };
  const networks = createVeNetworks({ stateDir: config.stateDir, log });
  const report = await reportHostVes(host, {
    config, clock: systemClock, log, openVirt: openVirtAt, uris: [virt.lxcUri, virt.qemuUri], events: openEventSink(config, configDir, batch, log, host),
    readLeases: (uri, name) => networks.readLeases(uri, name),
    recovery: {
      batch, console: createVeConsole(), findOwner: (user) => findUserIds(user),
      policy: { maxRestarts: recovery.maxRestarts, windowMs: 1000 * recovery.windowSeconds },
    },
    orphans: { batch, graceMs: 1000 * recovery.orphanGraceSeconds },
    interrupted: {
      batch,
      teardown: async (record) => {
        // the epilogue's own teardown, with the context the batch system no longer gives: the record's
        await teardownVe({ jobId: record.jobId, user: record.owner, group: undefined, jobName: undefined, queue: undefined, host, scriptPath: undefined, exitStatus: undefined, resources: undefined, sister: (record.part ?? 0) > 0 }, {
          config, clock: systemClock, log, openVirt: openVirtAt, disks: createLocalVeDisks(), networks, events: openEventSink(config, configDir, batch, log, host),
        });
      },
    },
    jobDirKeepMs: 1000 * (recovery.jobDirKeepSeconds ?? 7 * 86400),
  });
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({
      host, changes: report.changes.length, recovery: report.recovery.filter((s) => s.action !== 'skipped'), orphans: report.handledOrphans,
      teardowns: report.teardowns, removedJobDirs: report.removedJobDirs, addressChanges: report.addressChanges, sent: report.sent, pending: report.pending,
    })}\n`);
    return 0;
  }
  for (const s of report.recovery) if (s.action !== 'skipped') process.stdout.write(`${host}: job ${s.jobId}: ${s.action}: ${s.detail}${s.ms > 0 ? ` (${s.ms} ms)` : ''}\n`);
  for (const o of report.handledOrphans) process.stdout.write(`${host}: orphan ${o.domain} (${o.state}, since ${o.firstSeen}): ${o.outcome === 'kept' ? 'reported' : o.outcome}: ${o.reason}\n`);
  for (const jobId of report.teardowns) process.stdout.write(`${host}: job ${jobId}: interrupted teardown finished\n`);
  if (report.removedJobDirs.length > 0) process.stdout.write(`${host}: job directories removed: ${report.removedJobDirs.join(' ')}\n`);
  process.stdout.write(`${host}: ${report.changes.length} change(s), ${report.recovery.filter((s) => s.action !== 'skipped').length} recovery step(s), ${report.orphans.length} orphan domain(s), ${report.addressChanges} address change(s), ${report.sent} event(s) sent, ${report.pending} pending\n`);
  return 0;
}, log);
