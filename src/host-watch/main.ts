#!/usr/bin/env node
// ve-host-watch: the one long-lived pbs-ve process of a VE host (root; systemd restarts it, the sandbox
// starts one per simulated host). Ends VE jobs when their VEs end and copies the LXC consoles.
import { Command } from 'commander';
import { findConfigDir, findHostName, findHostVirt, loadConfig } from '../config/load-config.js';
import { openInventory, openReadOnlyVirtAt } from '../config/open-adapters.js';
import { buildHookLog } from '../host/build-hook-log.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { captureConsole } from '../host/capture-console.js';
import { watchHostVes } from './watch-host-ves.js';

const MAX_CONSOLE_LOG_BYTES = 1024 * 1024;

// arguments first: --help answers before any config is read
const options = new Command('ve-host-watch')
  .description('(one per VE host, root, long-lived) ends VE jobs when their VEs end; copies LXC consoles into their logs')
  .option('--host <name>', 'this host as the batch system names it (default: SLURMD_NODENAME or the short host name)')
  .parse(process.argv)
  .opts<{ host?: string }>();
const config = loadConfig(findConfigDir(process.env));
const log = buildHookLog(config, 've-host-watch');
await runHook('monitor', async () => {
  const host = options.host ?? findHostName(process.env);
  const virt = findHostVirt(config, host);
  // one read-only LDAP connection, opened only when a multi-node VE runs here
  let inventory: ReturnType<typeof openInventory> | undefined;
  const watch = await watchHostVes({
    host, stateDir: config.stateDir, uris: [...new Set([virt.roLxcUri, virt.roQemuUri])], openVirt: openReadOnlyVirtAt, clock: systemClock, log,
    recoveryWaitMs: 1000 * (config.recovery?.waitSeconds ?? 600), partsEveryMs: 10_000, reconnectMs: 1000,
    readParts: (jobId) => { inventory ??= openInventory(config, 'read'); return inventory.listParts(jobId); },
    copyConsole: (ptyPath, logPath, owner) => captureConsole({ ptyPath, logPath, owner, maxBytes: MAX_CONSOLE_LOG_BYTES }),
  });
  log(`watching the VEs of ${host} (${config.stateDir})`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await watch.stop();
  await inventory?.close();
  log('stopped');
  return 0;
}, log);
