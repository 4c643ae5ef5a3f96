import type { Command } from 'commander';
import { runHook } from '../host/run-hook.js';
import { EXTRA_SANDBOX_IMAGES, readSandboxInfo, startSandbox, stopSandbox, type ExtraSandboxImage } from './sandbox.js';
import { runDemo } from './run-demo.js';
import { join } from 'node:path';
import { runCommand } from '../core/run-command.js';
import { invalidField } from '../core/ve-error.js';
import { parseMemoryMiB } from '../core/parse-size.js';

const DEFAULT_DIR = process.env['PBS_VE_SANDBOX'] ?? '/tmp/pbs-ve-sandbox';
const say = (line: string): void => { process.stdout.write(`${line}\n`); };

// `ve sandbox`: the same local cluster the tests use, for trying pbs-ve on one machine (root).
export function registerSandboxCommands(program: Command): void {
  const sandbox = program.command('sandbox').description('a local cluster on this machine (root): slapd, libvirtd per VE host, Slurm or TORQUE with a vemon node');
  sandbox.command('up').option('--dir <dir>', 'sandbox directory', DEFAULT_DIR)
    .option('--batch <kind>', 'batch system: slurm or torque (a real TORQUE 6.1, built once when missing)', 'slurm')
    .option('--port-base <n>', 'first of the 60 ports the sandbox uses (default: a free range)')
    .option('--node-cpus <n>', 'cpus of every node (default 2; more than this machine has is fine: room for many tiny VEs)')
    .option('--node-memory <size>', 'memory of every node, e.g. 64G (default 1000M)')
    .option('--accounting', 'Slurm: a private MariaDB and slurmdbd, so Slurm enforces per-user limits itself (pbs-ve\'s QOS; ve admin install server sets it)')
    .option('--image <name...>', `an image built only when asked: ${EXTRA_SANDBOX_IMAGES.join(', ')} (Debian 12 with Slurm; debootstrap, about 45 s the first time on a machine, then cached)`)
    .option('--no-overlay', 'private networks stay host-local with DHCP (default: each VE host has an underlay namespace and private networks span the hosts over VXLAN)')
    .action(async (o: { dir: string; batch: string; portBase?: string; nodeCpus?: string; nodeMemory?: string; overlay: boolean; accounting?: boolean; image?: string[] }) => {
      await runHook('cli', async () => {
        if (o.batch !== 'slurm' && o.batch !== 'torque') throw invalidField('batch', 'must be "slurm" or "torque"', o.batch);
        const portBase = o.portBase === undefined ? undefined : Number(o.portBase);
        if (portBase !== undefined && (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65535 - 60)) {
          throw invalidField('port-base', 'must be a whole number from 1024 to 65475', o.portBase);
        }
        const images = (o.image ?? []).map((i) => {
          if (!(EXTRA_SANDBOX_IMAGES as readonly string[]).includes(i)) throw invalidField('image', `must be one of ${EXTRA_SANDBOX_IMAGES.join(', ')}`, i);
          return i as ExtraSandboxImage;
        });
        const nodeCpus = o.nodeCpus === undefined ? undefined : Number(o.nodeCpus);
        const nodeMemoryMiB = o.nodeMemory === undefined ? undefined : parseMemoryMiB('node-memory', o.nodeMemory);
        const info = await startSandbox({
          dir: o.dir, batch: o.batch, ...(portBase === undefined ? {} : { portBase }), ...(nodeCpus === undefined ? {} : { nodeCpus }),
          ...(nodeMemoryMiB === undefined ? {} : { nodeMemoryMiB }), overlay: o.overlay, accounting: o.accounting === true, images, log: (l) => { say(`sandbox: ${l}`); },
        });
        say(`sandbox (${info.batch}) up in ${info.dir}, ports from ${info.portBase}; use it with:\n  source ${info.dir}/env.sh`);
        return 0;
      });
    });
  sandbox.command('down').option('--dir <dir>', 'sandbox directory', DEFAULT_DIR).action(async (o: { dir: string }) => {
    await runHook('cli', async () => {
      const problems = await stopSandbox(o.dir, (l) => { say(`sandbox: ${l}`); });
      for (const p of problems) say(p);
      return problems.length === 0 ? 0 : 1;
    });
  });
  sandbox.command('status').option('--dir <dir>', 'sandbox directory', DEFAULT_DIR).action(async (o: { dir: string }) => {
    await runHook('cli', async () => {
      const info = readSandboxInfo(o.dir);
      const r = info.batch === 'torque'
        ? await runCommand(join(info.torque?.binDir ?? '/opt/torque/bin', 'pbsnodes'), ['-l', 'all'], { env: { PBS_DEFAULT: info.torque?.server ?? '' } })
        : await runCommand('sinfo', ['-N', '-o', '%N %P %T %f'], { env: { SLURM_CONF: info.slurmConf } });
      say(`sandbox ${info.dir} (${info.batch})\nLDAP ${info.ldapUrl} (${info.baseDn})\n${r.stdout.trimEnd()}`);
      return r.exitCode === 0 ? 0 : 1;
    });
  });
  sandbox.command('demo').description('run the README user story against a running sandbox').option('--dir <dir>', 'sandbox directory', DEFAULT_DIR)
    .action(async (o: { dir: string }) => {
      await runHook('cli', async () => {
        const t = await runDemo(readSandboxInfo(o.dir), say);
        say(`demo done: create->running ${t.createToRunningMs} ms, destroy->destroyed ${t.destroyToDestroyedMs} ms`);
        return 0;
      });
    });
}
