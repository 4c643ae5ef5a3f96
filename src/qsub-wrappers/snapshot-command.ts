import type { Command } from 'commander';
import { tmpdir, userInfo } from 'node:os';
import { findUserIds } from '../host/find-user-ids.js';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { VeError } from '../core/ve-error.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { buildDefaultSnapshotName, formatSnapshotTable, runVeOperationJob, type VeOperationDone, type VeOperationRequest } from '../operations/submit-ve-operation.js';
import { silentProgress, startWaitProgress } from '../cli/wait-progress.js';
import { listVeSnapshots } from '../operations/list-ve-snapshots.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { Inventory } from '../inventory/inventory.js';

export interface OpOptions { owner?: string; wait: string; json?: boolean }

interface CliScope {
  readonly me: string;
  /** the VE owner the command is scoped to; undefined: root, every owner */
  readonly owner: string | undefined;
  readonly config: PbsVeConfig;
  readonly inventory: Inventory;
}

// Every VE command of this file: root may name another owner, the config, a read-only LDAP closed whatever happens.
async function runScopedCommand(ownerOption: string | undefined, verb: string, body: (scope: CliScope) => Promise<string>): Promise<void> {
  await runHook('cli', async () => {
    const me = userInfo().username;
    if (ownerOption !== undefined && me !== 'root' && ownerOption !== me) throw new VeError('permission-denied', 'prereq', `owner: only root may ${verb} another owner's VE`, { field: 'owner' });
    const config = loadConfig(findConfigDir(process.env));
    const inventory = openInventory(config, 'read');
    try {
      process.stdout.write(await body({ me, owner: ownerOption ?? (me === 'root' ? undefined : me), config, inventory }));
      return 0;
    } finally {
      await inventory.close();
    }
  });
}

// Every operation command: run one op job, print its outcome.
export async function runOperationCommand(name: string, request: VeOperationRequest, o: OpOptions, format: (r: VeOperationDone) => string): Promise<void> {
  await runScopedCommand(o.owner, 'act on', async ({ me, owner, config, inventory }) => {
    const waitMs = 1000 * parseDurationSeconds('wait', o.wait);
    const deps = { config, inventory, batch: openBatch(config), veQueue: config.batch.veQueue, clock: systemClock };
    const progress = o.json === true ? silentProgress : startWaitProgress(`${request.kind} of VE ${name}`);
    // root acts as the VE's owner (the batch system authorizes it as theirs; TORQUE refuses root's jobs)
    const options = me === 'root' ? { waitMs, outputDir: tmpdir(), asOwner: { findOwner: (u: string) => findUserIds(u) } } : { waitMs, outputDir: process.cwd() };
    const result = await runVeOperationJob(deps, name, owner, request, options, (detail) => { progress.update(detail); })
      .then((r) => { progress.finish('done'); return r; }, (err: unknown) => { progress.finish('failed'); throw err; });
    return o.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${format(result)}\n`;
  });
}

/** `ve snapshot NAME [--name S]`, `ve snapshot list NAME`, `ve rollback NAME S`: run as op jobs on the VE's host. */
export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').argument('<name>', 'VE name or job id')
    .description('take a snapshot of a running VE (QEMU: disks and RAM; LXC: a copy of the rootfs); runs as a small job on the VE\'s host')
    .option('--name <snapshot>', 'snapshot name (letters, digits, _ . -; default s-<date>-<time>)')
    .option('--owner <user>', 'the owner (root only; default: yourself)')
    .option('--wait <duration>', 'how long to wait for the operation job', '5m')
    .option('--json', 'JSON output')
    .action(async (name: string, o: OpOptions & { name?: string }) => {
      await runOperationCommand(name, { kind: 'snapshot', snapshot: o.name ?? buildDefaultSnapshotName(new Date()) }, o, (r) => `VE ${r.name} (job ${r.target}): ${r.message}`);
    });
  snapshot.command('list').argument('<name>', 'VE name or job id').description('the snapshots of a VE, oldest first (from the inventory: no job)')
    .option('--owner <user>', 'the owner (root only; default: yourself)')
    .option('--json', 'JSON output')
    .action(async (name: string, _o: OpOptions, cmd: Command) => {
      // --json, --owner after "list" may land on the parent command: take both
      const o = cmd.optsWithGlobals<OpOptions>();
      await runScopedCommand(o.owner, 'read', async ({ owner, config, inventory }) => {
        const listed = await listVeSnapshots({ inventory, batch: openBatch(config), veQueue: config.batch.veQueue }, name, owner);
        return o.json === true ? `${JSON.stringify(listed, null, 2)}\n` : `${formatSnapshotTable(listed.snapshots)}\n`;
      });
    });
  program.command('rollback').argument('<name>', 'VE name or job id').argument('<snapshot>', 'snapshot name (see ve snapshot list)')
    .description('put a running VE back to a snapshot (QEMU: it keeps running; LXC: the container restarts on the snapshot\'s rootfs)')
    .option('--owner <user>', 'the owner (root only; default: yourself)')
    .option('--wait <duration>', 'how long to wait for the operation job', '5m')
    .option('--json', 'JSON output')
    .action(async (name: string, snapshotName: string, o: OpOptions) => {
      await runOperationCommand(name, { kind: 'rollback', snapshot: snapshotName }, o, (r) => `VE ${r.name} (job ${r.target}): ${r.message}`);
    });
}
