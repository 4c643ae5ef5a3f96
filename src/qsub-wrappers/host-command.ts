import type { Command } from 'commander';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { createLdapHostInventory } from '../inventory/ldap-host-inventory.js';
import { runHook } from '../host/run-hook.js';
import { VE_TYPES } from '../core/ve-type.js';
import { findCaller, requireAdmin } from '../cli/find-caller.js';
import { drainHost, resumeHost, validateHostName, type DrainVes } from './drain-host.js';
import { migrateHostVes, startHostVes, stopHostVes } from '../operations/stop-host-ves.js';
import type { SnapshotVeDeps, SnapshotVeOptions } from '../operations/submit-ve-operation.js';
import { tmpdir } from 'node:os';
import { findUserIds } from '../host/find-user-ids.js';
import { systemClock } from '../core/clock.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { formatHostDetails, formatHostTable, listHosts, showHost, type ListHostsDeps } from './list-hosts.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

// Every host command: the ports opened for it, LDAP closed whatever happens, output printed once.
async function runHostCommand(body: (deps: ListHostsDeps, config: PbsVeConfig) => Promise<string>): Promise<void> {
  await runHook('cli', async () => {
    const config = loadConfig(findConfigDir(process.env));
    const ldap = { url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs };
    const inventory = openInventory(config, 'read');
    const hosts = createLdapHostInventory(ldap);
    try {
      process.stdout.write(await body({ batch: openBatch(config), inventory, hosts, veQueue: config.batch.veQueue, veFeatures: VE_TYPES }, config));
      return 0;
    } finally {
      await Promise.all([inventory.close(), hosts.close()]);
    }
  });
}

/** each VE operation of a drain or resume may take this long (queueing and a guest's shutdown included) */
const HOST_OP_WAIT_MS = 5 * 60_000;

// root's operations run as each VE's owner (the batch system authorizes them as theirs), output in /tmp
function buildHostOpOptions(): SnapshotVeOptions {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return root ? { waitMs: HOST_OP_WAIT_MS, outputDir: tmpdir(), asOwner: { findOwner: (u) => findUserIds(u) } } : { waitMs: HOST_OP_WAIT_MS, outputDir: process.cwd() };
}

// The operations a drain runs act as the caller (root: every VE); they need the clock and config besides the host view.
function buildOperationDeps(deps: ListHostsDeps, config: PbsVeConfig): SnapshotVeDeps {
  return { inventory: deps.inventory, batch: deps.batch, veQueue: deps.veQueue, config, clock: systemClock };
}

/** `ve host list|show|drain|resume`: the VE hosts, and their maintenance (drain/resume: admins). */
export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('the VE hosts: batch system state and features, VEs on them, maintenance (drain/resume: admins)');

  host.command('list').description('every VE host: state, features, cpus/memory used by VEs, VEs, note')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        const caller = await findCaller(config);
        const rows = await listHosts(deps, caller.admin ? undefined : caller.user);
        return o.json === true ? `${JSON.stringify(rows, null, 2)}\n` : `${formatHostTable(rows)}\n`;
      });
    });

  host.command('show').argument('<host>', 'host name as the batch system names it').description('one host in detail, with the VEs on it')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        validateHostName(name);
        const caller = await findCaller(config);
        const row = await showHost(deps, name, caller.admin ? undefined : caller.user);
        return o.json === true ? `${JSON.stringify(row, null, 2)}\n` : `${formatHostDetails(row)}\n`;
      });
    });

  host.command('drain').argument('<host>', 'host name as the batch system names it')
    .description('maintenance (admins): no new VE goes to the host; its VEs are stopped (clean shutdown) and ve host resume starts them again; --migrate moves them to other hosts; --keep-running leaves them running')
    .option('--reason <text>', 'one line for the batch system\'s node note', 'maintenance')
    .option('--keep-running', 'leave the VEs running: only new VEs are kept away')
    .option('--migrate', 'move the VEs to other hosts (live where possible) instead of stopping them')
    .option('--timeout <duration>', 'how long each guest gets to shut down', '60s')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { reason: string; keepRunning?: boolean; migrate?: boolean; timeout: string; json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        validateHostName(name);
        const timeoutSeconds = parseDurationSeconds('timeout', o.timeout);
        const caller = await findCaller(config);
        requireAdmin(caller, 've host drain', config.adminGroup);
        const ops = buildOperationDeps(deps, config);
        const ves: DrainVes = o.keepRunning === true ? { kind: 'keep' }
          : o.migrate === true ? { kind: 'migrate', migrate: (list) => migrateHostVes(ops, list, buildHostOpOptions()) }
          : { kind: 'stop', stop: (list) => stopHostVes(ops, list, timeoutSeconds, buildHostOpOptions()) };
        const r = await drainHost(deps, name, { reason: o.reason, by: caller.user, ves });
        if (o.json === true) return `${JSON.stringify(r, null, 2)}\n`;
        const left = r.ves.map((v) => `  ${v.name} (job ${v.jobId}, ${v.owner}, ${v.state})\n`).join('');
        const skipped = r.skipped.map((s) => `  not ${o.migrate === true ? 'moved' : 'stopped'}: ${s.name} (job ${s.jobId}): ${s.why}\n`).join('');
        const moved = r.migrated.length === 0 ? '' : `moved away: ${r.migrated.join(', ')}\n`;
        return `host ${r.host} drained: ${r.note}\n${moved}${skipped}${r.ves.length === 0 ? 'no VE there\n' : `${r.ves.length} VE(s) there:\n${left}`}`;
      });
    });

  host.command('resume').argument('<host>', 'host name as the batch system names it').description('end maintenance (admins): the host takes new VEs again')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        validateHostName(name);
        requireAdmin(await findCaller(config), 've host resume', config.adminGroup);
        const ops = buildOperationDeps(deps, config);
        const r = await resumeHost(deps, name, (jobIds) => startHostVes(ops, jobIds, buildHostOpOptions()));
        const skipped = r.skipped.map((s) => `  not started: job ${s.jobId}: ${s.why}\n`).join('');
        return o.json === true ? `${JSON.stringify({ ...r, resumed: true })}\n` : `host ${r.host} resumed${r.started.length === 0 ? '' : `; started again: ${r.started.join(', ')}`}\n${skipped}`;
      });
    });
}
