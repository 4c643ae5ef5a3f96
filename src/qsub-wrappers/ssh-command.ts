import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { findConfigDir, findHostName, findHostStateDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { invalidField } from '../core/ve-error.js';
import { runCommand, runInteractiveCommand } from '../core/run-command.js';
import { runVirsh } from '../virt/run-virsh.js';
import { parseDhcpLeases } from '../host/ve-networks.js';
import { validateJobId } from '../inventory/validate-job-id.js';
import { parseDurationSeconds } from '../core/parse-size.js';
import { connectToVe, pipeStdio, setTerminalRaw } from '../host/relay-to-ve.js';
import { RELAY_READY_MARKER, createRelayUnstuffer } from '../host/relay-terminal-framing.js';
import { runRelayClient } from './run-relay-client.js';
import { findVeSshTarget } from './ssh-to-ve.js';
import { buildVeSshArgv } from './build-ve-ssh-argv.js';

/** an ssh session ends with the VE's lease at the latest; this bounds the process if the lease is longer */
const SSH_SESSION_TIMEOUT_MS = 7 * 24 * 3600_000;

/** `ve ssh NAME [-- command...]` (the owner, submit host) and `ve relay` (its ProxyCommand, inside the VE's job). */
export function registerSshCommands(program: Command): void {
  program.command('ssh').argument('<name>', 'VE name or job id').argument('[command...]', 'a command to run instead of a shell (after --)')
    .description('an SSH session on your running VE, through a relay inside the VE\'s own job (the batch system lets only you in)')
    .action(async (name: string, command: string[]) => {
      await runHook('cli', async () => {
        const me = userInfo();
        const configDir = findConfigDir(process.env);
        const config = loadConfig(configDir);
        const inventory = openInventory(config, 'read');
        let target;
        try {
          target = await findVeSshTarget({ config, configDir, inventory, batch: openBatch(config), veQueue: config.batch.veQueue, now: () => Date.now() }, name, me.username, command, me.homedir);
        } finally {
          await inventory.close();
        }
        // ssh writes the known_hosts file but does not make its directory
        mkdirSync(join(me.homedir, '.ssh'), { recursive: true, mode: 0o700 });
        return runInteractiveCommand('ssh', buildVeSshArgv(target), { timeoutMs: SSH_SESSION_TIMEOUT_MS });
      });
    });

  program.command('relay')
    .description('(ve ssh\'s ProxyCommand, run inside the VE\'s job on its host) stdin/stdout <-> the VE\'s TCP port on nic0')
    .requiredOption('--job <id>', 'the VE\'s job')
    .option('--port <n>', 'the VE\'s TCP port', '22')
    .option('--wait <duration>', 'how long to wait for the guest\'s address and port', '120s')
    .action(async (o: { job: string; port: string; wait: string }) => {
      await runHook('cli', async () => {
        const jobId = validateJobId(o.job, 'job');
        if (!/^[0-9]{1,5}$/.test(o.port) || Number(o.port) < 1 || Number(o.port) > 65535) throw invalidField('port', 'must be a TCP port from 1 to 65535', o.port);
        const waitMs = 1000 * parseDurationSeconds('wait', o.wait);
        const config = loadConfig(findConfigDir(process.env));
        const host = findHostName(process.env);
        // a terminal is TORQUE's qsub -I pty (a Slurm step's stdin is a pipe): raw before any of ssh's bytes comes
        const terminal = process.stdin.isTTY;
        if (terminal) await setTerminalRaw(runCommand);
        const socket = await connectToVe(jobId, Number(o.port), waitMs, {
          stateDir: findHostStateDir(config, host), host,
          readLeases: async (uri, net) => { const r = await runVirsh(uri, 'net-dhcp-leases', [], [net]); return r.ok ? parseDhcpLeases(r.stdout) : []; },
          now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        });
        if (terminal) process.stdout.write(RELAY_READY_MARKER);
        await pipeStdio(socket, process.stdin, process.stdout, terminal ? createRelayUnstuffer() : undefined);
        return 0;
      });
    });

  program.command('relay-client').argument('<command...>', 'the batch system\'s command that runs ve relay (after --)')
    .description('(ve ssh\'s ProxyCommand where the relay\'s end is a terminal, TORQUE qsub -I) ssh\'s bytes framed for it, qsub\'s own lines left out')
    .action(async (command: string[]) => {
      await runHook('cli', () => runRelayClient(command, SSH_SESSION_TIMEOUT_MS, { input: process.stdin, output: process.stdout, errors: process.stderr, onHangup: (end) => process.once('SIGHUP', end) }));
    });
}
