import type { Command } from 'commander';
import { runHook } from '../host/run-hook.js';
import { readSandboxInfo, startSandbox, stopSandbox } from './sandbox.js';
import { runDemo } from './run-demo.js';
import { runCommand } from '../core/run-command.js';

const DEFAULT_DIR = process.env['PBS_VE_SANDBOX'] ?? '/tmp/pbs-ve-sandbox';
const say = (line: string): void => { process.stdout.write(`${line}\n`); };

// `ve sandbox`: the same local cluster the tests use, for trying pbs-ve on one machine (root).
export function registerSandboxCommands(program: Command): void {
  const sandbox = program.command('sandbox').description('a local cluster on this machine (root): slapd, libvirtd x2, Slurm with a vemon node');
  sandbox.command('up').option('--dir <dir>', 'sandbox directory', DEFAULT_DIR).action(async (o: { dir: string }) => {
    await runHook('cli', async () => {
      const info = await startSandbox({ dir: o.dir, log: (l) => { say(`sandbox: ${l}`); } });
      say(`sandbox up in ${info.dir}; use it with:\n  source ${info.dir}/env.sh`);
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
      const r = await runCommand('sinfo', ['-N', '-o', '%N %P %T %f'], { env: { SLURM_CONF: info.slurmConf } });
      say(`sandbox ${info.dir}\nLDAP ${info.ldapUrl} (${info.baseDn})\n${r.stdout.trimEnd()}`);
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
