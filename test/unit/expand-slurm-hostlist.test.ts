import t from 'tap';
import { expandSlurmHostlist } from '../../src/batch/expand-slurm-hostlist.js';

void t.test('expandSlurmHostlist expands ranges, lists and padding in Slurm order', (t) => {
  t.same(expandSlurmHostlist('node1'), ['node1']);
  t.same(expandSlurmHostlist('node[1-2]'), ['node1', 'node2']);
  t.same(expandSlurmHostlist('node[1-2],mon1'), ['node1', 'node2', 'mon1']);
  t.same(expandSlurmHostlist('n[01-03,7],x'), ['n01', 'n02', 'n03', 'n7', 'x']);
  t.same(expandSlurmHostlist('n[008-010]'), ['n008', 'n009', 'n010']);
  t.same(expandSlurmHostlist('r[1-2]n[1-2]'), ['r1n1', 'r1n2', 'r2n1', 'r2n2']);
  t.same(expandSlurmHostlist('a,b,a'), ['a', 'b'], 'duplicates once');
  t.same(expandSlurmHostlist('node1.example.org,gpu-2'), ['node1.example.org', 'gpu-2']);
  t.end();
});

void t.test('expandSlurmHostlist treats empty and (null) as no hosts', (t) => {
  t.same(expandSlurmHostlist(''), []);
  t.same(expandSlurmHostlist('  '), []);
  t.same(expandSlurmHostlist('(null)'), []);
  t.end();
});

void t.test('expandSlurmHostlist refuses malformed or hostile lists', (t) => {
  for (const bad of ['node[1-2', 'node]1[', 'node[a-b]', 'node[3-1]', 'n[[1]]', 'no de1', 'n;rm', 'n[0-99999999]', 'a[1-1000]b[1-1000]']) {
    t.throws(() => expandSlurmHostlist(bad), { name: 'VeError', code: 'bad-hostlist' }, bad);
  }
  t.end();
});
