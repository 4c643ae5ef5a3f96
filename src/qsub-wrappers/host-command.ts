import type { Command } from 'commander';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { createLdapHostInventory } from '../inventory/ldap-host-inventory.js';
import { runHook } from '../host/run-hook.js';
import { VE_TYPES } from '../core/ve-type.js';
import { findCaller, requireAdmin } from '../cli/find-caller.js';
import { drainHost, resumeHost, validateHostName } from './drain-host.js';
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
    .description('maintenance (admins): no new VE goes to the host; its VEs keep running (moving them away comes with ve migrate)')
    .option('--reason <text>', 'one line for the batch system\'s node note', 'maintenance')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { reason: string; json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        validateHostName(name);
        const caller = await findCaller(config);
        requireAdmin(caller, 've host drain', config.adminGroup);
        const r = await drainHost(deps, name, { reason: o.reason, by: caller.user });
        if (o.json === true) return `${JSON.stringify(r, null, 2)}\n`;
        const left = r.ves.map((v) => `  ${v.name} (job ${v.jobId}, ${v.owner}, ${v.state})\n`).join('');
        return `host ${r.host} drained: ${r.note}\n${r.ves.length === 0 ? 'no VE runs there\n' : `${r.ves.length} VE(s) still run there:\n${left}`}`;
      });
    });

  host.command('resume').argument('<host>', 'host name as the batch system names it').description('end maintenance (admins): the host takes new VEs again')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      await runHostCommand(async (deps, config) => {
        validateHostName(name);
        requireAdmin(await findCaller(config), 've host resume', config.adminGroup);
        const r = await resumeHost(deps, name);
        return o.json === true ? `${JSON.stringify({ ...r, resumed: true })}\n` : `host ${r.host} resumed\n`;
      });
    });
}
