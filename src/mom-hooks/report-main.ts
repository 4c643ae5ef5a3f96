#!/usr/bin/env node
// ve-host-report: run on every VE host from cron (e.g. every minute), as root. Reports local VE state
// changes as events and resends journalled events that could not be sent before.
import { hostname } from 'node:os';
import { findConfigDir, findHostVirt, loadConfig } from '../config/load-config.js';
import { openBatch, openEventSink, openVirtAt } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { reportHostVes } from './report-host-ves.js';
import { createVeNetworks } from '../host/ve-networks.js';

const configDir = findConfigDir(process.env);
const config = loadConfig(configDir);
const log = buildHookLog(config, 've-host-report');
await runHook('monitor', async () => {
  const hostArg = process.argv.indexOf('--host');
  const host = (hostArg > 0 ? process.argv[hostArg + 1] : undefined) ?? process.env['SLURMD_NODENAME'] ?? hostname().split('.')[0] ?? hostname();
  const virt = findHostVirt(config, host);
  const batch = openBatch(config);
  const networks = createVeNetworks({ stateDir: config.stateDir, log });
  const report = await reportHostVes(host, {
    config, clock: systemClock, log, openVirt: openVirtAt, uris: [virt.lxcUri, virt.qemuUri], events: openEventSink(config, configDir, batch, log, host),
    readLeases: (uri, name) => networks.readLeases(uri, name),
  });
  process.stdout.write(`${host}: ${report.changes.length} change(s), ${report.orphans.length} orphan domain(s), ${report.addressChanges} address change(s), ${report.sent} event(s) sent, ${report.pending} pending\n`);
  return 0;
}, log);
