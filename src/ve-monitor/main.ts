#!/usr/bin/env node
// ve-monitor: runs on vemon nodes only (they hold the LDAP write credentials).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { applyEvents } from './apply-event.js';
import { readEventLines } from './read-event-lines.js';
import { reconcile } from './reconcile.js';

const program = new Command('ve-monitor').description('fold VE events into the LDAP inventory; repair drift').showHelpAfterError();

program.command('apply').description('apply events (one base64url line each) to LDAP')
  .option('--stdin', 'read event lines from standard input (how vemon jobs deliver them)')
  .option('--event <line...>', 'event lines given as arguments')
  .action(async (opts: { stdin?: boolean; event?: string[] }) => {
    await runHook('monitor', async () => {
      const config = loadConfig(findConfigDir(process.env));
      const text = [opts.stdin === true ? readFileSync(0, 'utf8') : '', ...(opts.event ?? [])].join('\n');
      const inventory = openInventory(config, 'write');
      try {
        const report = await applyEvents(inventory, readEventLines(text));
        for (const r of report.rejected) process.stderr.write(`ve-monitor: rejected event line ${r.line}: ${r.message}\n`);
        process.stdout.write(`applied ${report.applied}, stale ${report.stale}, duplicate ${report.duplicate}, rejected ${report.rejected.length}\n`);
        return report.rejected.length > 0 ? 2 : 0;
      } finally {
        await inventory.close();
      }
    });
  });

program.command('reconcile').description('one pass: compare LDAP with the batch system and repair LDAP (for cron)')
  .option('--dry-run', 'report drift, change nothing')
  .option('--json', 'print the drift report as JSON')
  .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
    await runHook('monitor', async () => {
      const config = loadConfig(findConfigDir(process.env));
      const inventory = openInventory(config, opts.dryRun === true ? 'read' : 'write');
      try {
        const drift = await reconcile({ inventory, batch: openBatch(config), clock: systemClock, veQueue: config.batch.veQueue }, { dryRun: opts.dryRun === true });
        if (opts.json === true) process.stdout.write(`${JSON.stringify({ drift }, null, 2)}\n`);
        else {
          for (const d of drift) process.stdout.write(`${d.changed ? 'changed' : 'found  '} job ${d.jobId} ${d.name}: ${d.finding}: ${d.from ?? '(none)'} -> ${d.to} (${d.detail})\n`);
          process.stdout.write(`reconcile: ${drift.length} drift item(s), ${drift.filter((d) => d.changed).length} changed\n`);
        }
        return 0;
      } finally {
        await inventory.close();
      }
    });
  });

await program.parseAsync(process.argv);
