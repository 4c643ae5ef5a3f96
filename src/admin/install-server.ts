// `ve admin install server`: the batch server's side of pbs-ve (TORQUE qmgr commands, Slurm slurm.conf lines).
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { runCommand as defaultRunCommand, type RunCommand } from '../core/run-command.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';
import type { Batch } from '../batch/batch.js';
import { checkQosName, DEFAULT_VE_QOS } from './install-slurm-qos.js';
import { findTorqueHostSlots } from '../batch/torque-slots.js';

/** the account the event sink submits vemon jobs as on TORQUE (qsub refuses root) */
export const DEFAULT_EVENT_SUBMITTER = 'pbsve';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// one host name as pbs_server names a client's host (no wildcard: the operator entry is for that host only)
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;

export interface TorqueServerOptions {
  /** the only account allowed to submit to the vemon queue */
  readonly eventSubmitter?: string;
  /** the hosts ve-monitor runs on as the event account (the vemon nodes): that account becomes an operator there only */
  readonly monitorHosts?: readonly string[];
  /** the hosts VEs run on: root becomes an operator there only, so `ve extend` may raise a running job's walltime */
  readonly veHosts?: readonly string[];
}

// Queue and account names end up in qmgr command lines: only plain names pass.
function checkName(field: string, value: string): string {
  if (!NAME.test(value)) throw new VeError('invalid-field', 'prereq', `${field}: must be a plain name (got ${JSON.stringify(value)})`, { field });
  return value;
}

// Host names end up in qmgr's operators list: a plain name, no wildcard, so the rights stay on that host.
function checkHost(value: string, field = 'monitorHosts'): string {
  if (value.length > 253 || !HOST.test(value)) throw new VeError('invalid-field', 'prereq', `${field}: must be a plain host name, no wildcard (got ${JSON.stringify(value)})`, { field });
  return value;
}

// qmgr wants HH:MM:SS; hours may exceed 24 (a week is 168:00:00).
export function formatTorqueWalltime(seconds: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor((seconds % 3600) / 60))}:${two(seconds % 60)}`;
}

/** The qmgr commands, in order: VE queue, vemon queue (closed, bound to `vemon` nodes), submit-side settings. */
export function buildTorqueServerCommands(config: PbsVeConfig, options: TorqueServerOptions = {}): string[] {
  const ve = checkName('batch.veQueue', config.batch.veQueue);
  const mon = checkName('batch.vemonQueue', config.batch.vemonQueue);
  const submitter = checkName('eventSubmitter', options.eventSubmitter ?? config.batch.eventSubmitUser);
  const feature = checkName('batch.vemonFeature', config.batch.vemonFeature);
  const operators = (options.monitorHosts ?? []).map((h) => `set server operators += ${submitter}@${checkHost(h)}`);
  const ves = config.limits?.vesPerUser;
  const veOperators = (options.veHosts ?? []).map((h) => `set server operators += root@${checkHost(h, 'veHosts')}`);
  return [
    `create queue ${ve}`,
    `set queue ${ve} queue_type = Execution`,
    `set queue ${ve} resources_max.walltime = ${formatTorqueWalltime(config.batch.maxLeaseSeconds)}`,
    // per-user limits (config limits.vesPerUser): queued + running VE jobs per user; qsub refuses the next one
    ...(ves === undefined ? [] : [`set queue ${ve} max_user_queuable = ${ves}`, `set queue ${ve} max_user_run = ${ves}`]),
    `set queue ${ve} enabled = True`,
    `set queue ${ve} started = True`,
    `create queue ${mon}`,
    `set queue ${mon} queue_type = Execution`,
    // for jobs that name no nodes; pbs-ve's own event jobs ask for the feature themselves
    `set queue ${mon} resources_default.neednodes = 1:${feature}`,
    `set queue ${mon} resources_default.walltime = 00:10:00`,
    `set queue ${mon} acl_user_enable = True`,
    `set queue ${mon} acl_users = ${submitter}`,
    `set queue ${mon} enabled = True`,
    `set queue ${mon} started = True`,
    // the prologue on a compute node submits the event jobs: TORQUE refuses node submissions otherwise
    'set server allow_node_submit = True',
    // the vemon jobs' account checks what events claim against other users' jobs, and hosts ask how
    // pbsve's vemon jobs ended; with the default False qstat shows each user only their own jobs.
    // Read-only (as on Slurm, where every user sees every job); pbsve on compute nodes needs it too,
    // where it is no operator
    'set server query_other_jobs = True',
    // a finished vemon job's exit status tells its host whether the events arrived (else they are resent)
    'set server keep_completed = 300',
    // ve-monitor reconcile --recover runs as the event account on the vemon nodes: it fences (pbsnodes -o)
    // and requeues (qrerun -f, which req_rerun.c allows to operators and managers only). Operator, not
    // manager, and only at the vemon hosts: pbsve on a compute node (where root switches to it) stays a user
    ...operators,
    // ve extend: root, in the op job's prologue on the VE's host, raises the VE job's walltime (qalter -l);
    // for a running job req_modify.c allows a higher limit to operators and managers only. Only at the VE hosts
    ...veOperators,
  ];
}

/** The vemon nodes as the server knows them (nodes with batch.vemonFeature), when the admin names none. */
export async function findMonitorHosts(batch: Pick<Batch, 'listNodes'>, feature: string): Promise<string[]> {
  const hosts = (await batch.listNodes()).filter((n) => n.features.includes(feature)).map((n) => n.name);
  if (hosts.length === 0) {
    throw new VeError('no-monitor-host', 'prereq', `no node of the batch server has the property ${feature}: give the vemon node(s) their property first, or name them with --monitor-host <host>`);
  }
  return hosts;
}

/** The VE hosts as the server knows them (nodes with the lxc or kvm property), when the admin names none. */
export async function findVeHosts(batch: Pick<Batch, 'listNodes'>): Promise<string[]> {
  const hosts = (await batch.listNodes()).filter((n) => n.features.includes('lxc') || n.features.includes('kvm')).map((n) => n.name);
  if (hosts.length === 0) {
    throw new VeError('no-ve-host', 'prereq', 'no node of the batch server has the property lxc or kvm: give the VE nodes their properties first, or name them with --ve-host <host>');
  }
  return hosts;
}

/** What qmgr cannot do for us: node properties live in server_priv/nodes (or `qmgr -c 'set node ...'`). */
export function buildTorqueNodeNotes(config: PbsVeConfig): string[] {
  const hosts = Object.keys(config.virt.hosts).filter((h) => h !== 'default');
  const shown = hosts.length === 0 ? ['<node>'] : hosts;
  const f = config.batch.slotsPerCpu;
  return [
    '# node properties (server_priv/nodes, or qmgr on a running server):',
    ...shown.map((h) => `#   set node ${h} properties += kvm     # QEMU/KVM VEs may run here`),
    ...shown.map((h) => `#   set node ${h} properties += lxc     # LXC VEs may run here`),
    `# node slots: pbs-ve counts ${f} TORQUE slot(s) as one cpu (batch.slotsPerCpu); declare every node with`,
    `#   np = ${f} x cpus + ${f - 1}  (e.g. ${findTorqueHostSlots(16, f)} for 16 cpus)${f > 1 ? `: VEs take ${f} x their vcpus, operations one of the last ${f - 1}` : ''}`,
    ...shown.map((h) => `#   set node ${h} np = ${findTorqueHostSlots(2, f)}      # for a host of 2 cpus`),
    `#   set node <vemon-node> properties += ${config.batch.vemonFeature}   # the node(s) that run ve-monitor event jobs`,
  ];
}

export interface QmgrResult {
  readonly command: string;
  readonly outcome: 'applied' | 'exists' | 'would-apply';
}

// "Queue already exists" is what a second run looks like: that is success, anything else is not.
export async function applyTorqueServerCommands(
  commands: readonly string[],
  options: { readonly dryRun: boolean; readonly binDir?: string | undefined; readonly timeoutMs?: number; readonly runCommand?: RunCommand },
): Promise<QmgrResult[]> {
  const run = options.runCommand ?? defaultRunCommand;
  const qmgr = options.binDir === undefined ? 'qmgr' : join(options.binDir, 'qmgr');
  const results: QmgrResult[] = [];
  for (const command of commands) {
    if (options.dryRun) {
      results.push({ command, outcome: 'would-apply' });
      continue;
    }
    const r = await run(qmgr, ['-c', command], { timeoutMs: options.timeoutMs ?? 30_000 });
    const output = `${r.stdout}${r.stderr}`.trim();
    if (r.exitCode === 0) {
      results.push({ command, outcome: 'applied' });
    } else if (command.startsWith('create ') && /already exists/i.test(output)) {
      results.push({ command, outcome: 'exists' });
    } else {
      throw new VeError('qmgr-failed', 'exec', `qmgr -c '${command}' failed (exit ${r.exitCode}): ${output}`, { details: { command, done: results.length } });
    }
  }
  return results;
}

export interface SlurmHookPaths {
  readonly prolog: string;
  readonly epilog: string;
  readonly healthCheck: string;
  /** Unix group allowed into the vemon partition; default root (on Slurm the root prologue submits events itself) */
  readonly vemonGroup?: string;
  /** groups allowed into the VE partition; default ALL */
  readonly veGroups?: string;
}

/** The slurm.conf lines pbs-ve needs, printed for the admin; pbs-ve never edits slurm.conf. */
export function buildSlurmConfLines(config: PbsVeConfig, paths: SlurmHookPaths, qos = DEFAULT_VE_QOS): string[] {
  const ve = checkName('batch.veQueue', config.batch.veQueue);
  // per-user limits: pbs-ve's QOS on the VE partition only (ve admin install server sets its limits with sacctmgr)
  const veQos = config.limits === undefined ? '' : ` QOS=${checkQosName(qos)}`;
  const mon = checkName('batch.vemonQueue', config.batch.vemonQueue);
  const vemonGroup = checkName('vemonGroup', paths.vemonGroup ?? 'root');
  const veGroups = paths.veGroups ?? 'ALL';
  const minutes = Math.ceil(config.batch.maxLeaseSeconds / 60);
  const hosts = Object.keys(config.virt.hosts).filter((h) => h !== 'default');
  const veNodes = hosts.length === 0 ? '<ve-nodes>' : hosts.join(',');
  return [
    '# pbs-ve: add to slurm.conf on every host (same file everywhere), then: scontrol reconfigure',
    `Prolog=${paths.prolog}`,
    `Epilog=${paths.epilog}`,
    '# the Prolog runs at allocation on every node of the job, before the batch script',
    'PrologFlags=Alloc',
    `HealthCheckProgram=${paths.healthCheck}`,
    'HealthCheckInterval=60',
    'HealthCheckNodeState=ANY',
    '# node Features: kvm (QEMU/KVM VEs) and lxc (containers) on VE nodes, vemon on the monitor node(s)',
    ...(hosts.length === 0 ? ['NodeName=<ve-node> Features=kvm,lxc ...'] : hosts.map((h) => `NodeName=${h} Features=kvm,lxc ...`)),
    'NodeName=<vemon-node> Features=vemon ...',
    ...(config.batch.opQueue === undefined
      ? [`PartitionName=${ve} Nodes=${veNodes} MaxTime=${minutes} AllowGroups=${veGroups}${veQos} State=UP`]
      : [
        '# VEs may take all but one CPU of each VE node; op jobs (ve stop, snapshot, migrate ...) get that one in their own partition',
        `PartitionName=${ve} Nodes=${veNodes} MaxTime=${minutes} AllowGroups=${veGroups} MaxCPUsPerNode=<node CPUs - 1>${veQos} State=UP`,
        `PartitionName=${checkName('batch.opQueue', config.batch.opQueue)} Nodes=${veNodes} MaxTime=60 AllowGroups=${veGroups} PriorityTier=2 State=UP`,
      ]),
    `PartitionName=${mon} Nodes=<vemon-node> MaxTime=10 AllowGroups=${vemonGroup} State=UP`,
    ...(config.limits === undefined ? [] : [
      `# per-user limits (config limits): the QOS ${checkQosName(qos)} above, which Slurm enforces only with slurmdbd and`,
      '# AccountingStorageType=accounting_storage/slurmdbd, AccountingStorageEnforce=associations,limits,qos (every user needs an association)',
      '# (without slurmdbd leave QOS= out: only `ve create` checks the limits, a user submitting with sbatch directly is not held to them)',
    ]),
  ];
}
