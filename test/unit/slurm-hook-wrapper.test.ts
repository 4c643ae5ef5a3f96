import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { buildHookWrapperScript } from '../../src/admin/build-hook-wrapper-script.js';

// A Slurm Prolog for a vemon event job must not start node (issue 12: three node starts per event job made
// the boot storm CPU-bound); the VE and op partitions, and an unknown one, still reach pbs-ve.
void t.test('the Slurm wrapper starts node only for the VE and op partitions (or an unknown one)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'slurm-wrapper-'));
  t.teardown(() => { rmSync(root, { recursive: true, force: true }); });
  const entry = join(root, 'main.js');
  writeFileSync(entry, `require('node:fs').writeFileSync(process.env.PBS_VE_CONFIG_DIR + '/ran', process.argv.slice(2).join(' '));\n`);
  writeFileSync(join(root, 'package.json'), '{"type":"commonjs"}\n');
  const configDir = join(root, 'etc');
  mkdirSync(configDir);
  const wrapper = join(root, 've-prolog');
  writeFileSync(wrapper, buildHookWrapperScript({ name: 've-prolog', nodePath: process.execPath, entryPath: entry, configDir, leadingArgs: [], chain: 'plain', queues: ['batch', 'veop'], queueVariable: 'SLURM_JOB_PARTITION' }));
  chmodSync(wrapper, 0o700);
  const run = async (partition: string | undefined): Promise<boolean> => {
    rmSync(join(configDir, 'ran'), { force: true });
    const r = await runCommand(wrapper, [], { timeoutMs: 20_000, env: partition === undefined ? {} : { SLURM_JOB_PARTITION: partition } });
    t.equal(r.exitCode, 0, `${partition ?? '(none)'}: ${r.stderr}`);
    return existsSync(join(configDir, 'ran'));
  };
  t.notOk(await run('vemon'), 'vemon: node never starts');
  t.notOk(await run('batch2'), 'a partition whose name starts like ours is another partition');
  t.notOk(await run('batch|veop'), 'the value is compared, not run');
  t.ok(await run('batch'), 'the VE partition reaches pbs-ve');
  t.ok(await run('veop'), 'the op partition too');
  t.ok(await run(undefined), 'no partition known: pbs-ve decides');
});

void t.test('the queue variable must be a plain variable name', (t) => {
  const base = { name: 've-prolog', nodePath: '/usr/bin/node', entryPath: '/opt/pbs-ve/dist/src/prologue/main.js', configDir: '/etc/pbs-ve', leadingArgs: [], chain: 'plain' as const, queues: ['batch'] };
  t.throws(() => buildHookWrapperScript({ ...base, queueVariable: 'X}; rm -rf /; ${Y' }), { code: 'invalid-field' });
  t.throws(() => buildHookWrapperScript({ ...base, queues: ['batch;id'], queueVariable: 'SLURM_JOB_PARTITION' }), { code: 'invalid-field' });
  t.match(buildHookWrapperScript({ ...base, queueVariable: 'SLURM_JOB_PARTITION' }), /case "\$queue" in 'batch'\|''\) ;; \*\) exit "\$rc" ;; esac/);
  t.end();
});
