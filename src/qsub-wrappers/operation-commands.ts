// `ve stop|start|restart|suspend|resume NAME`: each one op job on the VE's host, through the one operation path.
import type { Command } from 'commander';
import { runOperationCommand, type OpOptions } from './snapshot-command.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import type { VeOperationDone } from '../operations/submit-ve-operation.js';

const say = (r: VeOperationDone): string => `VE ${r.name} (job ${r.target}): ${r.message}; now ${r.state}`;

// The options every operation shares, so each command reads the same.
function addCommonOptions(command: Command): Command {
  return command
    .option('--owner <user>', 'the owner (root only; default: yourself)')
    .option('--wait <duration>', 'how long to wait for the operation and for the inventory to show it', '5m')
    .option('--json', 'JSON output');
}

export function registerOperationCommands(program: Command): void {
  addCommonOptions(program.command('stop').argument('<name>', 'VE name or job id')
    .description('shut a VE down (ACPI / SIGTERM to init, destroyed after --timeout); it keeps its job, lease and disks: ve start brings it back')
    .option('--force', 'destroy at once, without asking the guest')
    .option('--timeout <duration>', 'how long the guest gets to shut down', '60s'))
    .action(async (name: string, o: OpOptions & { force?: boolean; timeout: string }) => {
      await runOperationCommand(name, { kind: 'stop', force: o.force === true, timeoutSeconds: parseDurationSeconds('timeout', o.timeout) }, o, say);
    });
  addCommonOptions(program.command('start').argument('<name>', 'VE name or job id')
    .description('start a stopped VE again on its host'))
    .action(async (name: string, o: OpOptions) => {
      await runOperationCommand(name, { kind: 'start' }, o, say);
    });
  addCommonOptions(program.command('restart').argument('<name>', 'VE name or job id')
    .description('restart a running VE: a clean guest shutdown (destroyed after 60 s) and a start; --hard destroys and starts it')
    .option('--hard', 'destroy and start, without asking the guest'))
    .action(async (name: string, o: OpOptions & { hard?: boolean }) => {
      await runOperationCommand(name, { kind: 'restart', hard: o.hard === true }, o, say);
    });
  addCommonOptions(program.command('suspend').argument('<name>', 'VE name or job id')
    .description('pause a running VE (its memory stays); QEMU --to-disk saves the memory and frees it')
    .option('--to-disk', 'QEMU: save the memory to disk (libvirt managed save) and free it'))
    .action(async (name: string, o: OpOptions & { toDisk?: boolean }) => {
      await runOperationCommand(name, { kind: 'suspend', toDisk: o.toDisk === true }, o, say);
    });
  addCommonOptions(program.command('extend').argument('<name>', 'VE name or job id')
    .description('lengthen a VE\'s lease (its job\'s time limit) within the site\'s maximum; root on the VE\'s host does it, owners cannot raise their own limit')
    .requiredOption('--lease <+duration>', 'how much longer, e.g. +2h, +30m, +1d'))
    .action(async (name: string, o: OpOptions & { lease: string }) => {
      const text = o.lease.startsWith('+') ? o.lease.slice(1) : o.lease;
      await runOperationCommand(name, { kind: 'extend', addSeconds: parseDurationSeconds('lease', text) }, o, say);
    });
  addCommonOptions(program.command('migrate').argument('<name>', 'VE name or job id')
    .description('move a VE to another host, with its disks, snapshots, NICs and console log: cold (stopped, moved, started there) or --live (QEMU: the guest keeps running); its job is requeued to run there')
    .option('--to <host>', 'the destination (default: an up host with the VE\'s type and the most free cpus)')
    .option('--live', 'QEMU: libvirt live migration, the guest never stops'))
    .action(async (name: string, o: OpOptions & { to?: string; live?: boolean }) => {
      await runOperationCommand(name, { kind: 'migrate', live: o.live === true, ...(o.to === undefined ? {} : { to: o.to }) }, o, say);
    });
  addCommonOptions(program.command('resume').argument('<name>', 'VE name or job id')
    .description('continue a suspended VE (from memory, or from disk after --to-disk)'))
    .action(async (name: string, o: OpOptions) => {
      await runOperationCommand(name, { kind: 'resume' }, o, say);
    });
}
