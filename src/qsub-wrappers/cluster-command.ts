// ve cluster up|status|scale|down: virtual clusters (issue 13), one VE job per member plus a held intent job.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openClusterInventory, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { invalidField } from '../core/ve-error.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { silentProgress, startWaitProgress } from '../cli/wait-progress.js';
import { parseClusterManifest } from '../clusters/parse-cluster-manifest.js';
import { bringClusterUp } from '../clusters/bring-cluster-up.js';
import { waitForClusterRunning } from '../clusters/wait-for-cluster-running.js';
import { formatClusterStatus, showClusterStatus } from '../clusters/show-cluster-status.js';
import { scaleCluster } from '../clusters/scale-cluster.js';
import { takeClusterDown } from '../clusters/take-cluster-down.js';
import { CLUSTER_NAME_PATTERN, ROLE_NAME_PATTERN } from '../core/validate-ve-spec.js';
import type { Batch } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';
import type { ClusterInventory } from '../inventory/cluster-inventory.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

interface ClusterPorts {
  readonly configDir: string;
  readonly config: PbsVeConfig;
  readonly batch: Batch;
  readonly inventory: Inventory;
  readonly clusters: ClusterInventory;
  readonly veQueue: string;
}

// Ports opened for one command, LDAP closed whatever happens, the output printed once.
async function runClusterCommand(body: (deps: ClusterPorts) => Promise<string>): Promise<void> {
  await runHook('cli', async () => {
    const configDir = findConfigDir(process.env);
    const config = loadConfig(configDir);
    const inventory = openInventory(config, 'read');
    const clusters = openClusterInventory(config, 'read');
    try {
      process.stdout.write(await body({ configDir, config, batch: openBatch(config), inventory, clusters, veQueue: config.batch.veQueue }));
      return 0;
    } finally {
      await Promise.all([inventory.close(), clusters.close()]);
    }
  });
}

// A cluster name on the command line: the manifest's rule, before any service is asked.
function checkClusterName(name: string): string {
  if (!CLUSTER_NAME_PATTERN.test(name)) throw invalidField('name', 'must be a cluster name: 1-20 lowercase letters and digits, starting with a letter', name);
  return name;
}

// The manifest file is read as the caller; a path is all the user gives, its content is validated.
function readManifest(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidField('manifest', `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const me = (): string => userInfo().username;

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('virtual clusters: a head and computes declared once in a manifest, one VE job per member, kept running');

  cluster.command('up').argument('<manifest>', 'YAML or JSON manifest (see examples/batch-cluster.yaml)')
    .description('check the manifest against the site, then submit one VE job per member (and the cluster\'s held intent job)')
    .option('--wait [duration]', 'wait until every member runs (default 15m), showing progress on a terminal')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { wait?: string | boolean; json?: boolean }) => {
      await runClusterCommand(async (deps) => {
        // connections open lazily: a bad manifest is told before any service is asked
        const manifest = parseClusterManifest(readManifest(file), file);
        const waitMs = o.wait === undefined || o.wait === false ? 0 : 1000 * parseDurationSeconds('wait', o.wait === true ? '15m' : o.wait);
        const started = Date.now();
        const up = await bringClusterUp(manifest, { ...deps, owner: me() }, systemClock.now());
        const lines = up.members.map((m) => `${m.name}\t${m.role}\t${m.address}\tjob ${m.jobId}`);
        if (o.json !== true) process.stdout.write(`cluster ${up.cluster}: ${up.members.length} members submitted (intent job ${up.intentJobId})\n${lines.join('\n')}\n`);
        if (waitMs > 0) {
          const progress = o.json === true ? silentProgress : startWaitProgress(`cluster ${up.cluster} to run`);
          await waitForClusterRunning(up.members, waitMs, { batch: deps.batch, inventory: deps.inventory, clock: systemClock, progress });
        }
        const seconds = (Date.now() - started) / 1000;
        return o.json === true ? `${JSON.stringify({ ...up, ...(waitMs > 0 ? { running: true, seconds } : {}) })}\n` : '';
      });
    });

  cluster.command('status').argument('<name>', 'cluster name').description('members, hosts, states, addresses, lease left, history')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      await runClusterCommand(async (deps) => {
        checkClusterName(name);
        const status = await showClusterStatus(deps, name, me(), systemClock.now());
        return o.json === true ? `${JSON.stringify(status, null, 2)}\n` : `${formatClusterStatus(status)}\n`;
      });
    });

  cluster.command('scale').argument('<name>', 'cluster name').description('set how many members a scalable role has: ve cluster scale lab --compute 6 (the /etc/hosts of every member names the whole block of the role, so running members resolve the new ones)')
    .allowUnknownOption(true).argument('[role-count...]', '--ROLE N')
    .option('--json', 'JSON output')
    .action(async (name: string, rest: string[], o: { json?: boolean }) => {
      await runClusterCommand(async (deps) => {
        checkClusterName(name);
        const args = rest.filter((a) => a !== '--json');
        const role = (args[0] ?? '').replace(/^--/, '');
        const countText = args[1] ?? '';
        if (args.length !== 2 || !args[0]?.startsWith('--') || !ROLE_NAME_PATTERN.test(role)) throw invalidField('role', 'give one --ROLE N, e.g. --compute 6', rest.join(' '));
        if (!/^[0-9]{1,3}$/.test(countText)) throw invalidField(role, 'must be a whole number of members', countText);
        const r = await scaleCluster({ ...deps, owner: me() }, name, role, Number(countText), systemClock.now());
        if (o.json === true || rest.includes('--json')) return `${JSON.stringify(r)}\n`;
        return [
          ...r.added.map((m) => `added ${m.name} (${m.address}, job ${m.jobId})`),
          ...r.removed.map((m) => `removed ${m.name} (job ${m.jobId} cancelled)`),
          `cluster ${name}: ${role} ${countText} (intent job ${r.intentJobId})`,
        ].join('\n') + '\n';
      });
    });

  cluster.command('down').argument('<name>', 'cluster name').description('cancel the cluster\'s intent job and every member\'s job')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }) => {
      await runClusterCommand(async (deps) => {
        checkClusterName(name);
        const r = await takeClusterDown(deps, name, me());
        return o.json === true ? `${JSON.stringify(r)}\n` : `cluster ${name}: ${r.memberJobIds.length} member job(s) cancelled (${r.memberJobIds.join(' ')}); intent job ${r.intentJobIds.join(' ')} cancelled\n`;
      });
    });
}
