#!/usr/bin/env node
// ve: the user's command (qsub-style wrapper): create, list, show, destroy VEs; run the sandbox.
import { Command, Option } from 'commander';
import { userInfo } from 'node:os';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { systemClock } from '../core/clock.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { createVe, type CreateVeDeps } from './create-ve.js';
import { createVes } from './create-ves.js';
import { waitForVesRunning } from './wait-for-ves-running.js';
import { MAX_VE_COUNT, parseVeCount } from '../core/expand-ve-names.js';
import type { RawVeSpec } from '../core/validate-ve-spec.js';
import { parseAddHost } from '../core/validate-ve-hosts.js';
import { readDefaultSshKeys, readSshKeyFiles } from './read-ssh-key-files.js';
import { parseNetworkOptions } from './parse-network-options.js';
import { formatVeTable, listVes } from './list-ves.js';
import { formatVeDetails, showVe } from './show-ve.js';
import { destroyVe } from './destroy-ve.js';
import { readPackageVersion } from '../cli/read-package-version.js';
import { registerCommandFamilies } from '../cli/register-command-families.js';
import { decideOwnerScope, findCaller } from '../cli/find-caller.js';
import { silentProgress, startWaitProgress } from '../cli/wait-progress.js';
import { waitForVeRunning } from './wait-for-ve-running.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

const me = userInfo().username;
// admins (root, config adminGroup) act for everybody like a PBS manager; anyone else only on their own VEs
async function scopeOwner(config: PbsVeConfig, owner: string | undefined): Promise<string | undefined> {
  const caller = await findCaller(config);
  if (owner === undefined) return caller.admin ? undefined : caller.user;
  return decideOwnerScope(caller, { owner }, config.adminGroup);
}

type UserPorts = ReturnType<typeof openUserPorts>;

function openUserPorts() {
  const configDir = findConfigDir(process.env);
  const config = loadConfig(configDir);
  const batch = openBatch(config);
  const inventory = openInventory(config, 'read');
  return { configDir, config, batch, inventory, veQueue: config.batch.veQueue };
}

// Every user command: ports opened, the LDAP connection closed whatever happens, exit code from runHook.
async function runUserCommand(body: (deps: UserPorts) => Promise<string>): Promise<void> {
  await runHook('cli', async () => {
    const deps = openUserPorts();
    try {
      process.stdout.write(await body(deps));
      return 0;
    } finally {
      await deps.inventory.close();
    }
  });
}

// --wait [duration] / --no-wait: 0 means do not wait; a bare --wait takes the command's default.
function parseWaitMs(wait: string | boolean | undefined, fallback: string): number {
  if (wait === undefined || wait === false) return 0;
  return 1000 * parseDurationSeconds('wait', wait === true ? fallback : wait);
}

// ve create --count: one line (or JSON object) a VE, in name order, out before any wait so an interrupted
// wait still tells the user which jobs are theirs; with --json the objects come after the wait, with its state.
async function createCounted(raw: RawVeSpec, count: number, deps: UserPorts & CreateVeDeps, options: { readonly waitMs: number; readonly json: boolean }): Promise<string> {
  const created = await createVes(raw, count, deps);
  const lines = (state?: string): string => created.map((c) => (options.json ? `${JSON.stringify({ jobId: c.jobId, spec: c.spec, ...(state === undefined ? {} : { state }) })}\n` : `${c.name} ${c.jobId}\n`)).join('');
  if (options.waitMs === 0) return lines();
  if (!options.json) process.stdout.write(lines());
  const progress = options.json ? silentProgress : startWaitProgress(`${created.length} VEs ${created[0]?.name ?? ''} .. ${created.at(-1)?.name ?? ''} to run`);
  await waitForVesRunning(created, options.waitMs, { ...deps, clock: systemClock, progress });
  return options.json ? lines('running') : '';
}

const program = new Command('ve').description('virtual environments (libvirt VMs and containers) as batch jobs').version(readPackageVersion()).showHelpAfterError();

program.command('create').argument('<name>', 'VE name (a DNS label)')
  .description('submit one batch job that becomes the VE; prints the job id')
  .addOption(new Option('--type <type>', 'kvm (QEMU/KVM machine) or lxc (container)').makeOptionMandatory())
  .requiredOption('--image <name>', 'catalog image name (see the image catalog)')
  .option('--vcpus <n>', 'virtual cpus (per node)', '1')
  .option('--memory <size>', 'memory (per node): 256, 256M, 2G', '256')
  .option('--nodes <n>', 'nodes the VE spans, one domain (part) on each', '1')
  .option('--lease <duration>', 'how long the VE may live: 90m, 2h, 1d, HH:MM:SS', '1h')
  .option('--disk <size>', 'kvm: an extra empty data disk (vdb, vdc, ...), e.g. 10G; repeat for more (at most 4)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--keep-disk', 'keep the data disks when the VE ends (moved to <stateDir>/kept/<you>/)')
  .option('--ssh-key <file>', 'images that take keys (cloud-init, or "ssh": true): a public key file for the guest (default: your ~/.ssh/id_{ed25519,ecdsa,rsa}.pub); repeat for more', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--hostname <name>', 'the guest\'s host name (a DNS label; default: the VE name)')
  .option('--add-host <name=addr>', 'an /etc/hosts entry of the guest, NAME=A.B.C.D; repeat for more (at most 256)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--network <name[=addr]>', 'a NIC on this network (repeat for more, in order); a name the admin did not declare is your private network (across the hosts where the admin configured an overlay); NAME=A.B.C.D/LEN: a static address on it; default: one NIC on the host\'s default network', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--count <n>', `N identical VEs NAME-1 .. NAME-N (1-${MAX_VE_COUNT}): all checked before any is submitted, all or none submitted; prints "NAME-i JOBID" a line (--json: one JSON object a line); --wait: until all run; not with --hostname or a static --network address`)
  .option('--json', 'print the result as JSON')
  .option('--wait [duration]', 'wait until the VE runs (default 10m), showing what it waits for on a terminal')
  .option('--no-wait', 'return once the job is submitted (the default)')
  .action(async (name: string, o: { type: string; image: string; vcpus: string; memory: string; nodes: string; lease: string; disk: string[]; network: string[]; keepDisk?: boolean; sshKey: string[]; hostname?: string; addHost: string[]; count?: string; json?: boolean; wait?: string | boolean }) => {
    await runUserCommand(async (deps) => {
      const raw = {
        name, type: o.type, image: o.image, vcpus: o.vcpus, memory: o.memory, nodes: o.nodes, lease: o.lease, disks: o.disk,
        ...(o.keepDisk === true ? { keepDisks: true } : {}),
        ...(o.sshKey.length === 0 ? {} : { sshKeys: readSshKeyFiles(o.sshKey) }),
        ...(o.network.length === 0 ? {} : parseNetworkOptions(o.network)),
        ...(o.hostname === undefined ? {} : { hostname: o.hostname }),
        ...(o.addHost.length === 0 ? {} : { hosts: o.addHost.map(parseAddHost) }),
      };
      const defaultSshKeys = (): string[] => readDefaultSshKeys(userInfo().homedir, (line) => { process.stderr.write(`${line}\n`); });
      const waitMs = parseWaitMs(o.wait, '10m');
      if (o.count !== undefined) return createCounted(raw, parseVeCount(o.count), { ...deps, owner: me, defaultSshKeys }, { waitMs, json: o.json === true });
      const { jobId, spec } = await createVe(raw, { ...deps, owner: me, defaultSshKeys });
      if (waitMs === 0) return o.json === true ? `${JSON.stringify({ jobId, spec })}\n` : `${jobId}\n`;
      // the job id is out before the wait: an interrupted wait still tells the user which job is theirs
      if (o.json !== true) process.stdout.write(`${jobId}\n`);
      const progress = o.json === true ? silentProgress : startWaitProgress(`VE ${spec.name} (job ${jobId}) to run`);
      const state = await waitForVeRunning(jobId, waitMs, { ...deps, clock: systemClock, progress });
      return o.json === true ? `${JSON.stringify({ jobId, spec, state })}\n` : '';
    });
  });

program.command('list').description('your VEs from the LDAP inventory, plus queued ones as pending')
  .option('--all', 'include destroyed, lost and failed VEs (history)')
  .option('--all-users', 'everybody\'s VEs (admins: root and config adminGroup)')
  .option('--owner <user>', 'only this owner\'s VEs (another owner: admins only)')
  .option('--json', 'JSON output')
  .action(async (o: { all?: boolean; allUsers?: boolean; owner?: string; json?: boolean }) => {
    await runUserCommand(async (deps) => {
      const owner = decideOwnerScope(await findCaller(deps.config), { owner: o.owner, allUsers: o.allUsers === true }, deps.config.adminGroup);
      const rows = await listVes(deps, { all: o.all === true, owner });
      return o.json === true ? `${JSON.stringify(rows, null, 2)}\n` : `${formatVeTable(rows)}\n`;
    });
  });

program.command('show').argument('<name>', 'VE name or job id').description('every attribute, the job, the host and the state history')
  .option('--owner <user>', 'the owner (admins only; default: yourself)')
  .option('--json', 'JSON output')
  .action(async (name: string, o: { owner?: string; json?: boolean }) => {
    await runUserCommand(async (deps) => {
      const details = await showVe(deps, name, await scopeOwner(deps.config, o.owner));
      return o.json === true ? `${JSON.stringify(details, null, 2)}\n` : `${formatVeDetails(details)}\n`;
    });
  });

program.command('destroy').argument('<name>', 'VE name or job id').description('cancel the VE\'s job; the epilogue removes domain and disk')
  .option('--owner <user>', 'the owner (admins only; default: yourself)')
  .option('--wait [duration]', 'wait until LDAP shows the VE destroyed (default 2m), showing the wait on a terminal')
  .option('--no-wait', 'return once the job is cancelled (the default)')
  .option('--json', 'print the result as JSON')
  .action(async (name: string, o: { owner?: string; wait?: string | boolean; json?: boolean }) => {
    await runUserCommand(async (deps) => {
      const waitMs = parseWaitMs(o.wait, '2m');
      const progress = o.json === true || waitMs === 0 ? silentProgress : startWaitProgress(`VE ${name} to be destroyed`);
      const r = await destroyVe({ ...deps, clock: systemClock, progress }, name, await scopeOwner(deps.config, o.owner), { waitMs });
      if (o.json === true) return `${JSON.stringify({ jobId: r.jobId, cancelled: true, ...(r.finalState === undefined ? {} : { state: r.finalState }) })}\n`;
      return `job ${r.jobId} cancelled${r.finalState === undefined ? '' : `; VE ${r.finalState}`}\n`;
    });
  });

await registerCommandFamilies(program, process.argv.slice(2), ['create', 'list', 'show', 'destroy']);
await program.parseAsync(process.argv);
