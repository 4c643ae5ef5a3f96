// The bench's table: the ratio and "met" worked out from the goal; the JSON row has the fields scripts read; the plot is XML.
import t from 'tap';
import { judgeBenchRow } from '../../bench/judge-bench-row.js';
import { formatBenchMarkdown, formatBenchTable } from '../../bench/format-bench-table.js';
import { renderStormSvg } from '../../bench/render-storm-svg.js';
import { findPercentile } from '../../bench/bench-row.js';

void t.test('ratio goals compare ours/floor, absolute goals ours alone, and a missing figure meets nothing', (t) => {
  const time = judgeBenchRow({ name: 'prologue', ours: 390, floor: 300, unit: 'ms', floorTool: 'virsh', goal: { kind: 'ratio-at-most', value: 1.3 }, note: '' });
  t.equal(time.ratio, 1.3);
  t.equal(time.met, true);
  const rate = judgeBenchRow({ name: 'fold', ours: 400, floor: 1000, unit: 'ev/s', floorTool: 'ldapmodify', goal: { kind: 'ratio-at-least', value: 0.5 }, note: '' });
  t.equal(rate.met, false, '40 % of raw is below half');
  const absolute = judgeBenchRow({ name: 'create p50', ours: 2500, floor: undefined, unit: 'ms', floorTool: '', goal: { kind: 'at-most', value: 2000 }, note: '' });
  t.same([absolute.ratio, absolute.met, absolute.goal], [null, false, '<= 2000 ms']);
  const failed = judgeBenchRow({ name: 'x', ours: undefined, floor: 5, unit: 'ms', floorTool: '', goal: { kind: 'at-most', value: 1 }, note: '' });
  t.same([failed.ours, failed.met], [null, null]);
  t.same(Object.keys(JSON.parse(JSON.stringify(time)) as object).filter((k) => ['name', 'ours', 'floor', 'ratio', 'goal', 'met'].includes(k)).sort(), ['floor', 'goal', 'met', 'name', 'ours', 'ratio']);
  t.end();
});

void t.test('the table has the six columns and says NO where a goal is missed; markdown escapes pipes', (t) => {
  const rows = [judgeBenchRow({ name: 'a|b', ours: 3, floor: 1, unit: 'ms', floorTool: 'raw', goal: { kind: 'ratio-at-most', value: 2 }, note: 'n' })];
  t.match(formatBenchTable(rows), /^name\s+ours\s+floor\s+ratio\s+goal\s+met/);
  t.match(formatBenchTable(rows), /3\.00x\s+<= 2x floor\s+NO/);
  t.match(formatBenchMarkdown(rows), /\| a\\\|b \|/);
  t.end();
});

void t.test('percentiles by nearest rank; the plot is one SVG element with escaped labels', (t) => {
  t.equal(findPercentile([5, 1, 4, 2, 3], 50), 3);
  t.equal(findPercentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  t.ok(Number.isNaN(findPercentile([], 50)));
  const svg = renderStormSvg('t <&>', [{ label: 'pbs-ve (slurm)', color: '#000', dashed: false, points: [{ x: 64, y: 10 }, { x: 128, y: 21 }] }], { x: 512, y: 53.5, label: 'goal' });
  t.match(svg, /^<svg [^>]*>/);
  t.match(svg, /t &lt;&amp;&gt;/);
  t.match(svg, /<polyline /);
  t.match(svg.trimEnd(), /<\/svg>$/);
  t.end();
});
