import type { JudgedRow } from './judge-bench-row.js';

const COLUMNS = ['name', 'ours', 'floor', 'ratio', 'goal', 'met'] as const;

// Figures keep the precision a reader can use: whole ms, one decimal below 100.
function formatNumber(value: number | null, unit: string): string {
  if (value === null) return '-';
  return `${Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1)} ${unit}`;
}

// The six columns of issue 12, as strings, shared by the terminal and the markdown table.
function buildCells(row: JudgedRow): string[] {
  return [
    row.name,
    formatNumber(row.ours, row.unit),
    row.floor === null ? '-' : `${formatNumber(row.floor, row.unit)} (${row.floorTool})`,
    row.ratio === null ? '-' : `${row.ratio.toFixed(2)}x`,
    row.goal,
    row.met === null ? '-' : row.met ? 'yes' : 'NO',
  ];
}

/** The table for a terminal: padded columns, notes below it. */
export function formatBenchTable(rows: readonly JudgedRow[]): string {
  const cells = rows.map(buildCells);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const notes = rows.filter((r) => r.note !== '').map((r) => `  ${r.name}: ${r.note}`);
  return [line(COLUMNS), ...cells.map(line), ...(notes.length === 0 ? [] : ['', 'notes:', ...notes])].join('\n') + '\n';
}

/** The same table in markdown, for docs/benchmarks.md; notes as a last column. */
export function formatBenchMarkdown(rows: readonly JudgedRow[]): string {
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const head = [...COLUMNS, 'note'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[...buildCells(r), r.note].map(escape).join(' | ')} |`);
  return lines.join('\n') + '\n';
}
