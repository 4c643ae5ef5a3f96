// TORQUE slots per cpu (docs/design.md, "Capacity"): VE jobs hold a multiple of the factor, operations one
// slot, and every reading of TORQUE (qstat, pbsnodes, pelog argv) turns slots back into cpus the same way.
import t from 'tap';
import { DEFAULT_SLOTS_PER_CPU, findTorqueHostSlots, findTorqueSlots } from '../../src/batch/torque-slots.js';
import { buildTorqueJobResources, parseTorqueNodeSpec } from '../../src/batch/parse-torque-resources.js';
import { buildTorqueQsubArgs } from '../../src/batch/build-torque-qsub-args.js';
import { parsePbsnodesXml } from '../../src/batch/parse-pbsnodes-xml.js';
import { parseQstatXml } from '../../src/batch/parse-qstat-xml.js';
import { readTorquePelogContext } from '../../src/batch/read-torque-pelog-context.js';
import { createTorqueBatch } from '../../src/batch/torque-batch.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { SubmitRequest } from '../../src/batch/batch.js';
import type { CommandResult } from '../../src/core/run-command.js';

const request: SubmitRequest = { name: 've-a', queue: 'batch', cpus: 2, memoryMiB: 64, walltimeSeconds: 600, features: ['lxc'], nodeCount: 1, variables: {}, script: '#!/bin/sh\n' };

function nodesArg(args: readonly string[]): string {
  return (args[args.indexOf('-l') + 1] ?? '').split(',')[0] ?? '';
}

void t.test('slots for jobs and hosts', (t) => {
  t.equal(DEFAULT_SLOTS_PER_CPU, 2);
  t.equal(findTorqueSlots(3, 2), 6, 'a VE holds factor x vcpus');
  t.equal(findTorqueSlots(0, 2), 1, 'an operation holds one slot');
  t.equal(findTorqueSlots(0, 1), 1);
  t.equal(findTorqueHostSlots(2, 2), 5, 'np = 2 x cpus + 1');
  t.equal(findTorqueHostSlots(16, 3), 50, 'two operation slots with factor 3');
  t.equal(findTorqueHostSlots(4, 1), 4, 'factor 1 is TORQUE\'s own count: no slot kept');
  // the invariant: VEs (multiples of the factor) can never reach the kept slots
  for (const f of [2, 3, 4]) {
    for (const cpus of [1, 2, 7]) {
      const np = findTorqueHostSlots(cpus, f);
      t.equal(Math.floor(np / f) * f, cpus * f, `f=${f} cpus=${cpus}: VEs fill at most ${cpus * f} of ${np}`);
      t.equal(np - cpus * f, f - 1);
    }
  }
  t.end();
});

void t.test('qsub: ppn = factor x cpus; an operation (0 cpus) asks one slot', (t) => {
  t.equal(nodesArg(buildTorqueQsubArgs(request, undefined, 2)), 'nodes=1:ppn=4:lxc');
  t.equal(nodesArg(buildTorqueQsubArgs({ ...request, cpus: 0, features: [], nodeList: ['node1'] }, undefined, 2)), 'nodes=node1:ppn=1');
  t.equal(nodesArg(buildTorqueQsubArgs({ ...request, nodeCount: 2, nodeList: ['node1', 'node2'] }, undefined, 2)), 'nodes=node1:ppn=4:lxc+node2:ppn=4:lxc');
  t.equal(nodesArg(buildTorqueQsubArgs(request)), 'nodes=1:ppn=2:lxc', 'factor 1 by default: the builder alone is TORQUE\'s own count');
  t.throws(() => buildTorqueQsubArgs({ ...request, cpus: -1 }, undefined, 2), { code: 'invalid-field', field: 'cpus' });
  t.throws(() => buildTorqueQsubArgs(request, undefined, 0), { code: 'invalid-field', field: 'slotsPerCpu' });
  t.end();
});

void t.test('reading: slots back to cpus, an operation\'s odd slot is no cpu', (t) => {
  t.same(parseTorqueNodeSpec('node1:ppn=4:lxc', 2), { nodeCount: 1, cpus: 2, features: ['lxc'] });
  t.same(parseTorqueNodeSpec('node1:ppn=1', 2), { nodeCount: 1, cpus: 0, features: [] });
  t.same(parseTorqueNodeSpec('2:ppn=6+node3:ppn=2', 2), { nodeCount: 3, cpus: 7, features: [] });
  t.equal(buildTorqueJobResources({ procs: '6' }, 2).cpus, 3);
  const nodes = parsePbsnodesXml('<Data><Node><name>node1</name><state>free</state><np>5</np><properties>lxc,kvm</properties><jobs>0-3/14.vm,4/15.vm</jobs></Node></Data>', 2);
  t.equal(nodes[0]?.cpus, 2, 'np 5 with factor 2: a host of 2 cpus');
  t.same(nodes[0]?.jobIds, ['14.vm', '15.vm']);
  const xml = '<Data><Job><Job_Id>14.vm</Job_Id><Job_Name>ve-a</Job_Name><Job_Owner>u@vm</Job_Owner><job_state>R</job_state><queue>batch</queue><exec_host>node1/0-3</exec_host>'
    + '<Resource_List><nodes>1:ppn=4:lxc</nodes><mem>64mb</mem><walltime>00:10:00</walltime></Resource_List><Variable_List>PBS_O_QUEUE=batch</Variable_List></Job></Data>';
  t.equal(parseQstatXml(xml, 2)[0]?.resources.cpus, 2);
  t.equal(parseQstatXml(xml)[0]?.resources.cpus, 4, 'factor 1 reads TORQUE\'s own count');
  const ctx = readTorquePelogContext(['14.vm', 'u', 'u', 've-a', 'nodes=1:ppn=4:lxc,mem=64mb,walltime=00:10:00', 'batch', ''], {}, 'prologue', 'node1', 2);
  t.equal(ctx.resources?.cpus, 2, 'the prologue sees the VE\'s vcpus');
  t.end();
});

void t.test('the adapter: config default 2, submit and moveJob in slots', async (t) => {
  const config = parseConfig({ batch: { kind: 'torque' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } });
  t.equal(config.batch.slotsPerCpu, 2);
  t.throws(() => parseConfig({ batch: { kind: 'torque', slotsPerCpu: 0 }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } }), { code: 'invalid-config', field: 'batch.slotsPerCpu' });
  t.throws(() => parseConfig({ batch: { kind: 'torque', slotsPerCpu: '2' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } }), { code: 'invalid-config', field: 'batch.slotsPerCpu' });
  const calls: string[][] = [];
  const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '' });
  let state = 'R';
  const batch = createTorqueBatch({
    slotsPerCpu: 2,
    run: (file, args) => {
      calls.push([file, ...args]);
      if (file === 'qsub') return Promise.resolve(ok('21.vm\n'));
      if (file === 'qstat') {
        const xml = `<Data><Job><Job_Id>21.vm</Job_Id><Job_Name>ve-a</Job_Name><Job_Owner>u@vm</Job_Owner><job_state>${state}</job_state><queue>batch</queue><exec_host>node1/0-3</exec_host>`
          + '<Resource_List><nodes>1:ppn=4:lxc</nodes><mem>64mb</mem><walltime>00:10:00</walltime></Resource_List><Variable_List>PBS_O_QUEUE=batch</Variable_List></Job></Data>';
        state = 'H';
        return Promise.resolve(ok(xml));
      }
      return Promise.resolve(ok(''));
    },
  });
  t.equal(await batch.submit(request), '21.vm');
  t.equal(nodesArg(calls[0]?.slice(1) ?? []), 'nodes=1:ppn=4:lxc');
  t.equal((await batch.getJob('21.vm'))?.resources.cpus, 2);
  state = 'R';
  await batch.moveJob('21.vm', 'node2');
  t.ok(calls.some((c) => c[0] === 'qalter' && c[2] === 'nodes=node2:ppn=4:lxc'), 'the moved VE keeps its slots');
});
