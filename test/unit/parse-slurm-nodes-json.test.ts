import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseSlurmJobsJson } from '../../src/batch/parse-slurm-jobs-json.js';
import { mapSlurmNodeState, parseSlurmNodesJson } from '../../src/batch/parse-slurm-nodes-json.js';

const read = (name: string) => readFileSync(new URL(`../../../test/fixtures/slurm/${name}`, import.meta.url), 'utf8');
const jobs = parseSlurmJobsJson(read('squeue.json'));
const nodes = parseSlurmNodesJson(read('sinfo.json'), jobs);

void t.test('parseSlurmNodesJson: states, features, notes and the jobs on each node', (t) => {
  t.same(
    nodes.map((n) => [n.name, n.state, n.rawState]),
    [
      ['mon1', 'free', 'MIXED'],
      ['node1', 'busy', 'ALLOCATED'],
      ['node2', 'offline', 'IDLE+DRAIN'],
    ],
  );
  const [mon1, node1, node2] = nodes;
  t.same(mon1?.features, ['vemon']);
  t.same(mon1?.jobIds, ['9']);
  t.same(node1?.jobIds, ['6'], 'finished jobs are not on the node');
  t.equal(node1?.cpus, 2);
  t.equal(node1?.memoryMiB, 1000);
  t.same(node1?.features, ['kvm', 'lxc']);
  t.equal(node1?.note, undefined);
  t.equal(node2?.note, 'pbs-ve: libvirt down, "x');
  t.end();
});

void t.test('mapSlurmNodeState', (t) => {
  t.equal(mapSlurmNodeState('idle', []), 'free');
  t.equal(mapSlurmNodeState('mixed', []), 'free');
  t.equal(mapSlurmNodeState('allocated', []), 'busy');
  t.equal(mapSlurmNodeState('allocated', ['DRAIN']), 'offline');
  t.equal(mapSlurmNodeState('drained', []), 'offline');
  t.equal(mapSlurmNodeState('down', []), 'down');
  t.equal(mapSlurmNodeState('down', ['DRAIN']), 'down');
  t.equal(mapSlurmNodeState('idle', ['NOT_RESPONDING']), 'free', 'idle* is Slurm still waiting, not down');
  t.equal(mapSlurmNodeState('future', []), 'unknown');
  t.end();
});
