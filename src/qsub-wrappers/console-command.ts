import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { findConfigDir, loadConfig } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { runHook } from '../host/run-hook.js';
import { VeError } from '../core/ve-error.js';
import { findVeConsoleLog, followFile, isVeOver, parseLineCount, readLastLines } from './follow-ve-console.js';

/** `ve console NAME`: the VE's serial console (QEMU) or captured console (LXC), like tail [-f]. */
export function registerConsoleCommands(program: Command): void {
  program.command('console').argument('<name>', 'VE name or job id')
    .description('print the last lines of the VE\'s console log; --follow keeps printing until the VE ends')
    .option('--lines <n>', 'how many lines to print first', '50')
    .option('--follow', 'keep printing new output (until the VE ends or Ctrl-C)')
    .option('--owner <user>', 'the owner (root only; default: yourself)')
    .option('--json', 'JSON: one object {name, jobId, host, text}; with --follow one such line per new chunk')
    .action(async (name: string, o: { lines: string; follow?: boolean; owner?: string; json?: boolean }) => {
      await runHook('cli', async () => {
        const me = userInfo().username;
        const lines = parseLineCount(o.lines);
        const config = loadConfig(findConfigDir(process.env));
        const inventory = openInventory(config, 'read');
        let log;
        try {
          // only root may look at another owner's VE; the file itself is the owner's, 0600, as well
          const owner = o.owner ?? (me === 'root' ? undefined : me);
          if (o.owner !== undefined && me !== 'root' && o.owner !== me) throw new VeError('permission-denied', 'prereq', 'owner: only root may read the console of another owner\'s VE', { field: 'owner' });
          log = await findVeConsoleLog({ config, inventory, batch: openBatch(config), veQueue: config.batch.veQueue }, name, owner);
        } finally {
          await inventory.close();
        }
        const { text, offset } = readLastLines(log.logPath, lines);
        const asJson = (chunk: string, ended?: boolean): string => `${JSON.stringify({ name: log.name, jobId: log.jobId, host: log.host, text: chunk, ...(ended === true ? { ended } : {}) })}\n`;
        if (o.json === true) process.stdout.write(asJson(text));
        else if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        if (o.follow === true) {
          const jobId = log.jobId;
          await followFile(log.logPath, offset, { write: (t) => process.stdout.write(o.json === true ? asJson(t) : t), isOver: () => isVeOver(config, jobId, log.host) });
          if (o.json === true) process.stdout.write(asJson('', true));
          else process.stderr.write(`-- VE ${log.name} (job ${jobId}) has ended --\n`);
        }
        return 0;
      });
    });
}
