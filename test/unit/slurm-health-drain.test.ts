import t from 'tap';
import { drainSlurmNode, resumeSlurmNodeIfOurs, type SlurmNodeControl } from '../../src/mom-hooks/slurm-node-drain.js';
import type { CommandOptions, CommandResult } from '../../src/core/run-command.js';

function control(answers: Record<string, CommandResult>, calls: string[][]): SlurmNodeControl {
  return {
    binDir: '/opt/slurm/bin', slurmConf: '/etc/slurm/slurm.conf', timeoutMs: 1000,
    run: (file: string, args: readonly string[], o?: CommandOptions): Promise<CommandResult> => {
      calls.push([file, ...args, `SLURM_CONF=${o?.env?.['SLURM_CONF'] ?? ''}`]);
      return Promise.resolve(answers[args[0] ?? ''] ?? { stdout: '', stderr: '', exitCode: 0 });
    },
  };
}

void t.test('unhealthy: drain with a pbs-ve reason, one printable line', async (t) => {
  const calls: string[][] = [];
  await drainSlurmNode('node1', 'image store /x missing;\n"quoted"', control({}, calls));
  t.same(calls, [['/opt/slurm/bin/scontrol', 'update', 'NodeName=node1', 'State=DRAIN', "Reason=pbs-ve health: image store /x missing; 'quoted'", 'SLURM_CONF=/etc/slurm/slurm.conf']]);
  await t.rejects(drainSlurmNode('node1 State=DOWN', 'x', control({}, calls)), { code: 'invalid-field' });
});

void t.test('healthy: resume only a drain the hook set itself', async (t) => {
  const ours = 'NodeName=node1 Arch=x86_64 State=IDLE+DRAIN ThreadsPerCore=1 Reason=pbs-ve health: libvirtd not answering [root@2026-01-01T00:00:00]\n';
  const admins = 'NodeName=node1 State=IDLE+DRAIN Reason=maintenance [root@2026-01-01T00:00:00]\n';
  const idle = 'NodeName=node1 State=IDLE ThreadsPerCore=1\n';
  for (const [name, stdout, resumed] of [['ours', ours, true], ['admin', admins, false], ['not drained', idle, false]] as const) {
    const calls: string[][] = [];
    t.equal(await resumeSlurmNodeIfOurs('node1', control({ show: { stdout, stderr: '', exitCode: 0 } }, calls)), resumed, name);
    t.equal(calls.some((c) => c.includes('State=RESUME')), resumed, name);
  }
  await t.rejects(resumeSlurmNodeIfOurs('node1', control({ show: { stdout: '', stderr: 'slurm_load_node error: Unable to contact slurm controller', exitCode: 1 } }, [])), { code: 'slurm-node-unreadable' });
});
