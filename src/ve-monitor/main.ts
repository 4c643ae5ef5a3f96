#!/usr/bin/env node
// ve-monitor: runs on vemon nodes only (they hold the LDAP write credentials and every host's event key).
// Every event job starts it for `apply`: the web console (fastify), reconcile, host recovery and the cluster
// pass are imported by their own commands only, so an apply does not pay for loading them.
import { Command } from 'commander';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openClusterInventory, openConsoleAdapters, openInventory, openLdapLogin } from '../config/open-adapters.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_WEB_LISTEN, decideWebListen } from '../web/decide-web-listen.js';
import { findUserGroups } from '../host/find-user-groups.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { ensureHostKey, openHostKeyring } from '../events/host-key.js';
import { flushHostJournal } from '../events/flush-host-journal.js';
import { createClaimChecker } from './create-claim-checker.js';
import { checkMonitorAccount } from './check-monitor-account.js';
import { readEventLines, splitEventLines } from './read-event-lines.js';
import { describeEventOrigin, logRejectedEvents, type RejectedEvent } from './log-rejected-events.js';
import { alertStateFile, createAlertSender, listRaisedAlerts } from './send-alert.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { join } from 'node:path';
import { readStdinText } from './read-stdin-text.js';
import { alertFailedVes } from './alert-failed-ves.js';
import { monitorSpoolDir, openEventSpool, openMemoryEventSpool } from './event-spool.js';
import { drainEventSpool, type DrainEventSpoolReport } from './drain-event-spool.js';
import { addApplyStats, addReconcileStats, readMonitorStats, recordMonitorStats } from './monitor-stats.js';
import { VeError } from '../core/ve-error.js';
import { ensureVemonOutputDir } from '../events/vemon-output-path.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { VeEvent } from '../core/ve-event.js';

/** EX_TEMPFAIL: LDAP stayed unreachable; the events wait in the spool for the next vemon job or reconcile */
const EXIT_EVENTS_SPOOLED = 75;

// Reconcile's share of durability: what a vemon job left spooled is applied on the next cron pass.
async function drainMonitorSpool(config: PbsVeConfig, configDir: string): Promise<void> {
  const keyring = openHostKeyring(configDir, stderrLog);
  const report = await drainEventSpool({
    spool: openEventSpool(monitorSpoolDir(config.stateDir)), openInventory: () => openInventory(config, 'write'),
    readLines: (l) => readEventLines(l.join('\n'), keyring), checkClaims: createClaimChecker(openBatch(config)), clock: systemClock, log: stderrLog,
    recordRejected: recordSpoolRejections(config, 'reconcile'),
  }, { waitMs: 0 });
  await sendFailedAlerts(config, report.failed);
  await recordApplyStats(config, report, 0);
  if (report.files > 0 || report.left > 0) stderrLog(`ve-monitor: spooled events: ${report.files} file(s) applied (${report.applied} applied, ${report.stale} stale, ${report.duplicate} duplicate), ${report.left} left`);
}

// Every apply, from a vemon job or a reconcile pass's spool, counts in the statistics the web console shows.
async function recordApplyStats(config: PbsVeConfig, report: DrainEventSpoolReport, rejectedBefore: number): Promise<void> {
  if (report.applied + report.rejected + report.stale + report.duplicate + rejectedBefore === 0) return;
  const run = { applied: report.applied, rejected: rejectedBefore + report.rejected, stale: report.stale, duplicate: report.duplicate, lagsSeconds: report.lagsSeconds };
  await recordMonitorStats(config.stateDir, (s) => addApplyStats(s, run, systemClock.now()), stderrLog);
}

// Lines refused when a spooled file is applied (claims the batch system contradicts) go to the same log.
function recordSpoolRejections(config: PbsVeConfig, origin: string): (file: string, rejected: readonly RejectedEvent[], lines: readonly string[]) => void {
  return (file, rejected, lines) => { logRejectedEvents(config.stateDir, rejected, lines, `${origin} spool-file=${file.slice(0, 80)}`); };
}

// A VE that became failed is one alert for the administrators (de-duplicated, rate limited).
async function sendFailedAlerts(config: PbsVeConfig, failed: readonly VeEvent[]): Promise<void> {
  if (failed.length === 0) return;
  const alert = createAlertSender({ command: config.alertCommand, stateFile: join(config.stateDir, 'monitor', 'alerts.json'), clock: systemClock, log: stderrLog });
  const outcomes = await alertFailedVes(failed, alert, join(config.stateDir, 'monitor', 'alerts.lock'));
  failed.forEach((e, i) => { stderrLog(`ve-monitor: alert ve-failed ${e.jobId}: ${outcomes[i] ?? '?'}`); });
}

const program = new Command('ve-monitor').description('fold VE events into the LDAP inventory; repair drift').showHelpAfterError();
const stderrLog = (line: string): void => { process.stderr.write(`${line}\n`); };

program.command('apply').description('apply signed event lines (<payload>.<host>.<hmac>) to LDAP')
  .option('--stdin', 'read event lines from standard input (how vemon jobs deliver them)')
  .option('--event <line...>', 'event lines given as arguments')
  .option('--ldap-wait <duration>', 'how long to keep retrying while LDAP is unreachable before leaving the events spooled (exit 75); default ldap.applyWaitSeconds, else 5m')
  .action(async (opts: { stdin?: boolean; event?: string[]; ldapWait?: string }) => {
    await runHook('monitor', async () => {
      const configDir = findConfigDir(process.env);
      const config = loadConfig(configDir);
      // the next vemon jobs' output directory (Slurm); a service account (TORQUE) may not make it, and needs none
      try {
        ensureVemonOutputDir(config.stateDir);
      } catch (err) {
        if (config.batch.kind === 'slurm') stderrLog(`ve-monitor: ${(err as Error).message}`);
      }
      const waitMs = 1000 * (opts.ldapWait === undefined ? (config.ldap.applyWaitSeconds ?? 300) : parseDurationSeconds('ldap-wait', opts.ldapWait));
      const text = [opts.stdin === true ? await readStdinText() : '', ...(opts.event ?? [])].join('\n');
      checkMonitorAccount(config.stateDir);
      const keyring = openHostKeyring(configDir, stderrLog);
      // signatures first; claims are checked against the batch system when each spooled file is applied
      const events = readEventLines(text, keyring);
      const lines = splitEventLines(text);
      const origin = describeEventOrigin(process.env);
      const rejected = events.flatMap((e, i) => (e instanceof VeError ? [{ line: i + 1, code: e.code, message: e.message }] : []));
      logRejectedEvents(config.stateDir, rejected, lines, origin);
      // on disk before LDAP is tried: a job that cannot reach LDAP or the batch system, or dies, loses nothing
      const accepted = lines.filter((_, i) => !(events[i] instanceof VeError));
      let spool = openEventSpool(monitorSpoolDir(config.stateDir));
      let durable = true;
      try {
        if (accepted.length > 0) spool.add(accepted, process.env['SLURM_JOB_ID'] ?? process.env['PBS_JOBID'] ?? 'cli');
      } catch (err) {
        stderrLog(`ve-monitor: cannot spool the events (${(err as Error).message}): applying them without a spool; what is not applied now is sent again by its host`);
        spool = openMemoryEventSpool(accepted);
        durable = false;
      }
      const report = await drainEventSpool({
        spool, openInventory: () => openInventory(config, 'write'), readLines: (l) => readEventLines(l.join('\n'), keyring),
        checkClaims: createClaimChecker(openBatch(config)), clock: systemClock, log: stderrLog, recordRejected: recordSpoolRejections(config, origin),
      }, { waitMs });
      await sendFailedAlerts(config, report.failed);
      await recordApplyStats(config, report, rejected.length);
      process.stdout.write(`applied ${report.applied}, stale ${report.stale}, duplicate ${report.duplicate}, rejected ${rejected.length + report.rejected}, spooled files applied ${report.files}, left ${report.left}\n`);
      // 75 tells the hosts their events are safe here; events held only in memory are not: exit 1 has them resent
      if (report.problem !== undefined) return durable ? EXIT_EVENTS_SPOOLED : 1;
      return rejected.length + report.rejected > 0 || report.quarantined.length > 0 ? 2 : 0;
    });
  });

program.command('reconcile').description('one pass: compare LDAP with the batch system and repair LDAP (for cron)')
  .option('--dry-run', 'report drift, change nothing')
  .option('--json', 'print the drift report as JSON')
  .option('--recover', 'also recover failed hosts: fence (drain) a node down past the grace time, then requeue its VE jobs')
  .option('--host-down-grace <duration>', 'how long a node must be down before --recover fences it (90s, 2m ...)', '2m')
  .action(async (opts: { dryRun?: boolean; json?: boolean; recover?: boolean; hostDownGrace: string }) => {
    await runHook('monitor', async () => {
      const config = loadConfig(findConfigDir(process.env));
      checkMonitorAccount(config.stateDir);
      const graceMs = 1000 * parseDurationSeconds('host-down-grace', opts.hostDownGrace);
      const dryRun = opts.dryRun === true;
      const startedMs = Date.now();
      // events a vemon job could not apply (LDAP was down past its wait) go first: one attempt, no waiting
      if (!dryRun) await drainMonitorSpool(config, findConfigDir(process.env));
      const [{ readClusterView, reconcile }, { listOrphanDomains }, { recoverFailedHosts }] = await Promise.all([import('./reconcile.js'), import('./list-orphan-domains.js'), import('./recover-failed-hosts.js')]);
      const inventory = openInventory(config, dryRun ? 'read' : 'write');
      try {
        const deps = { inventory, batch: openBatch(config), clock: systemClock, veQueue: config.batch.veQueue };
        const view = await readClusterView(deps);
        if (view.nodesProblem !== undefined) stderrLog(`ve-monitor: node states not read, host checks skipped: ${view.nodesProblem}`);
        if (view.hostReportsProblem !== undefined) stderrLog(`ve-monitor: host reports not read, orphan domains not listed: ${view.hostReportsProblem}`);
        const drift = await reconcile(deps, { dryRun }, view);
        const orphanGraceMs = 1000 * (config.recovery?.orphanGraceSeconds ?? 600);
        const orphans = listOrphanDomains(view.hostReports ?? [], view.jobs, view.nodes, systemClock.now(), orphanGraceMs);
        const alert = createAlertSender({ command: config.alertCommand, stateFile: join(config.stateDir, 'monitor', 'alerts.json'), clock: systemClock, log: stderrLog });
        if (!dryRun) {
          const run = { durationSeconds: (Date.now() - startedMs) / 1000, orphans: orphans.length, drift: drift.map((d) => ({ ...d, from: d.from ?? '' })) };
          await recordMonitorStats(config.stateDir, (s) => addReconcileStats(s, run, systemClock.now()), stderrLog);
        }
        const hosts = opts.recover === true
          ? await recoverFailedHosts({ ...deps, stateFile: join(config.stateDir, 'monitor', 'down-hosts.json'), alert, log: stderrLog }, view, { graceMs, dryRun })
          : [];
        if (opts.json === true) process.stdout.write(`${JSON.stringify({ drift, orphans, ...(opts.recover === true ? { hosts } : {}) }, null, 2)}\n`);
        else {
          for (const d of drift) process.stdout.write(`${d.changed ? 'changed' : 'found  '} job ${d.jobId} ${d.name}: ${d.finding}: ${d.from ?? '(none)'} -> ${d.to} (${d.detail})\n`);
          for (const o of orphans) process.stdout.write(`found   orphan ${o.host}/${o.domain} (${o.state}) since ${o.since} (${o.ageSeconds} s)${o.stale ? ' [stale]' : ''}: ${o.action}: ${o.detail}\n`);
          for (const h of hosts) {
            const moved = [...h.requeued.map((j) => `${j} requeued`), ...h.requeuedByBatch.map((j) => `${j} requeued by the batch system`), ...h.failed.map((f) => `requeue failed ${f}`)];
            process.stdout.write(`host ${h.host}: down since ${h.downSince}: ${h.action} (${h.detail})${moved.length > 0 ? `: ${moved.join(', ')}` : ''}\n`);
          }
          process.stdout.write(`reconcile: ${drift.length} drift item(s), ${drift.filter((d) => d.changed).length} changed, ${orphans.length} orphan domain(s) reported by hosts\n`);
        }
        return hosts.some((h) => h.action === 'fence-failed' || h.failed.length > 0) ? 1 : 0;
      } finally {
        await inventory.close();
      }
    });
  });

program.command('clusters').description('(cron, vemon node, root) record virtual clusters in LDAP from their intent jobs; resubmit gone members as their owner while the lease lasts')
  .option('--dry-run', 'report, change nothing')
  .option('--json', 'print the findings as JSON')
  .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
    await runHook('monitor', async () => {
      // root: a member is submitted again as its owner (runuser, Slurm --uid), which no service account may do
      if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new VeError('not-root', 'prereq', 've-monitor clusters: run as root (it submits members as their owners)');
      const config = loadConfig(findConfigDir(process.env));
      const dryRun = opts.dryRun === true;
      const { ensureClustersRunning } = await import('./ensure-clusters-running.js');
      const inventory = openInventory(config, dryRun ? 'read' : 'write');
      const clusters = openClusterInventory(config, dryRun ? 'read' : 'write');
      try {
        const batch = openBatch(config);
        const jobs = await batch.listJobs({ queue: config.batch.veQueue });
        const findings = await ensureClustersRunning({ batch, inventory, clusters, config, configDir: findConfigDir(process.env), clock: systemClock, log: stderrLog }, jobs, { dryRun });
        if (opts.json === true) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
        else for (const c of findings) process.stdout.write(`cluster ${c.owner}/${c.cluster}: ${c.action}: ${c.detail}\n`);
        return findings.some((f) => f.action === 'recreate-failed') ? 1 : 0;
      } finally {
        await Promise.all([inventory.close(), clusters.close()]);
      }
    });
  });

program.command('keygen').description('create <configDir>/host-keys/<host>.key (0600) unless it exists; copy it to that host and keep it on the vemon nodes')
  .requiredOption('--host <name>', 'host name as the batch system names it')
  .action(async (opts: { host: string }) => {
    await runHook('cli', () => {
      const configDir = findConfigDir(process.env);
      process.stdout.write(`${ensureHostKey(configDir, opts.host)}\n`);
      // keygen runs on the vemon node at installation: the root-only directory Slurm writes vemon job output to
      ensureVemonOutputDir(loadConfig(configDir).stateDir);
      return Promise.resolve(0);
    });
  });

program.command('flush').description("send this host's journalled events that are still pending (what the periodic hook does)")
  .requiredOption('--host <name>', 'this host, as the batch system names it')
  .action(async (opts: { host: string }) => {
    await runHook('cli', async () => {
      const configDir = findConfigDir(process.env);
      const result = await flushHostJournal(loadConfig(configDir), configDir, opts.host, stderrLog);
      process.stdout.write(`sent ${result.sent}, pending ${result.pending}\n`);
      return result.pending > 0 ? 3 : 0;
    });
  });

program.command('web').description('the read-only web console and /metrics (vemon node; read-only LDAP and batch access)')
  .option('--listen <host:port>', `address to serve (default config web.listen, else ${DEFAULT_WEB_LISTEN}); plain HTTP only on loopback`)
  .option('--tls-cert <file>', 'PEM certificate (default config web.tlsCertFile)')
  .option('--tls-key <file>', 'PEM private key (default config web.tlsKeyFile)')
  .action(async (opts: { listen?: string; tlsCert?: string; tlsKey?: string }) => {
    await runHook('cli', async () => {
      const config = loadConfig(findConfigDir(process.env));
      const web = config.web;
      if (web === undefined) throw new VeError('web-not-configured', 'prereq', 'config web: missing; set web.userDnTemplate (the DN users bind as to log in, e.g. "uid=%u,ou=people,dc=example,dc=org")', { field: 'web' });
      const listen = decideWebListen(opts.listen ?? web.listen ?? DEFAULT_WEB_LISTEN, { certFile: opts.tlsCert ?? web.tlsCertFile, keyFile: opts.tlsKey ?? web.tlsKeyFile });
      const { buildWebConsole } = await import('../web/build-web-console.js');
      const ldap = openConsoleAdapters(config);
      const server = await buildWebConsole({
        ...ldap, batch: openBatch(config), login: openLdapLogin(config, web.userDnTemplate), findGroups: (u) => findUserGroups(u), adminGroup: config.adminGroup,
        veQueue: config.batch.veQueue, vemonQueue: config.batch.vemonQueue, readStats: () => readMonitorStats(config.stateDir),
        readAlerts: () => listRaisedAlerts(alertStateFile(config.stateDir)), clock: systemClock, log: stderrLog,
        tls: listen.tls === undefined ? undefined : { cert: readFileSync(listen.tls.certFile), key: readFileSync(listen.tls.keyFile) },
      });
      const address = await server.app.listen({ host: listen.host, port: listen.port });
      stderrLog(`ve-monitor web: serving ${address}`);
      await new Promise<void>((resolve) => {
        const stop = (): void => { resolve(); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await server.close();
      await Promise.all([ldap.source.close(), ldap.inventory.close(), ldap.hosts.close()]);
      return 0;
    });
  });

await program.parseAsync(process.argv);
