// The Slurm health hook drains and resumes its node through the Batch port; the Slurm adapter's commands.
import t from 'tap';
import { applyNodeHealth } from '../../src/mom-hooks/apply-node-health.js';
import { createSlurmBatch } from '../../src/batch/slurm-batch.js';
import type { Batch, BatchNode } from '../../src/batch/batch.js';
import type { CommandOptions, CommandResult } from '../../src/core/run-command.js';
import { createFakeBatch } from '../fakes/fake-batch.js';

function fakeBatch(node: Partial<BatchNode> | undefined, calls: string[]): Batch {
  return {
    ...createFakeBatch({}), 
    listNodes: () => Promise.resolve(node === undefined ? [] : [{ name: 'node1', state: 'free', rawState: 'IDLE', cpus: 2, memoryMiB: 1024, features: [], jobIds: [], note: undefined, ...node }]),
    setNodeOffline: (n, note) => { calls.push(`offline ${n} ${note}`); return Promise.resolve(); },
    setNodeOnline: (n) => { calls.push(`online ${n}`); return Promise.resolve(); },
  };
}

void t.test('unhealthy: drained with the problems as the note', async (t) => {
  const calls: string[] = [];
  t.equal(await applyNodeHealth(fakeBatch({}, calls), 'node1', ['image store /x missing', 'libvirtd not answering']), 'drained');
  t.same(calls, ['offline node1 pbs-ve health: image store /x missing; libvirtd not answering']);
});

void t.test('healthy: only a drain the hook set itself is lifted', async (t) => {
  const cases: [Partial<BatchNode> | undefined, string][] = [
    [{ state: 'offline', rawState: 'IDLE+DRAIN', note: 'pbs-ve health: libvirtd not answering' }, 'resumed'],
    [{ state: 'down', rawState: 'DOWN+DRAIN', note: 'pbs-ve health: libvirtd not answering' }, 'resumed'],
    [{ state: 'offline', rawState: 'IDLE+DRAIN', note: 'maintenance' }, 'unchanged'],
    [{ state: 'free', note: 'pbs-ve health: stale' }, 'unchanged'],
    [undefined, 'unchanged'],
  ];
  for (const [node, expected] of cases) {
    const calls: string[] = [];
    t.equal(await applyNodeHealth(fakeBatch(node, calls), 'node1', []), expected, JSON.stringify(node));
    t.same(calls, expected === 'resumed' ? ['online node1'] : []);
  }
});

void t.test('Slurm adapter: DRAIN with a one-line reason, RESUME; node names only', async (t) => {
  const calls: string[][] = [];
  const run = (file: string, args: readonly string[], o?: CommandOptions): Promise<CommandResult> => {
    calls.push([file, ...args, `SLURM_CONF=${o?.env?.['SLURM_CONF'] ?? ''}`]);
    return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
  };
  const batch = createSlurmBatch({ run, binDir: '/opt/slurm/bin', slurmConf: '/etc/slurm/slurm.conf' });
  await batch.setNodeOffline('node1', 'pbs-ve health: image store /x missing;\n"quoted"');
  await batch.setNodeOnline('node1');
  t.same(calls, [
    ['/opt/slurm/bin/scontrol', 'update', 'NodeName=node1', 'State=DRAIN', "Reason=pbs-ve health: image store /x missing; 'quoted'", 'SLURM_CONF=/etc/slurm/slurm.conf'],
    ['/opt/slurm/bin/scontrol', 'update', 'NodeName=node1', 'State=RESUME', 'SLURM_CONF=/etc/slurm/slurm.conf'],
  ]);
  await t.rejects(batch.setNodeOnline('node1 State=DOWN'), { code: 'invalid-field' });
  await t.rejects(batch.setNodeOnline('node[1-2]'), { code: 'invalid-field' });
});

void t.test('Slurm adapter: a caller who may not change nodes is told so (live 22.05: "Invalid user id")', async (t) => {
  const run = (): Promise<CommandResult> => Promise.resolve({ stdout: '', stderr: 'slurm_update error: Invalid user id\n', exitCode: 1 });
  const batch = createSlurmBatch({ run });
  await t.rejects(batch.setNodeOffline('node2', 'x'), { code: 'batch-permission-denied', kind: 'prereq', message: /Invalid user id: only root, SlurmUser and Slurm operators may change a node/ });
  await t.rejects(batch.setNodeOnline('node2'), { code: 'batch-permission-denied' });
});
