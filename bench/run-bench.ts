// npm run bench: each benchmark against the raw tool measured in the same run; figures, no thresholds.
import { benchEventFolding } from './bench-event-folding.js';
import { measureReconcile } from './bench-reconcile.js';
import { benchPrologueVsVirsh } from './bench-prologue-virsh.js';
import type { BenchRow } from './bench-row.js';

// A failing benchmark is a row saying so: the others still report.
async function runRow(name: string, fn: () => Promise<BenchRow | BenchRow[]>): Promise<BenchRow[]> {
  process.stderr.write(`bench: ${name} ...\n`);
  try {
    const r = await fn();
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    return [{ name, ours: 'FAILED', raw: '-', ratio: Number.NaN, note: (err as Error).message.slice(0, 200) }];
  }
}

// Linearity is the point of b): per-VE cost at 5,000 and 20,000 should match.
async function benchReconcile(): Promise<BenchRow[]> {
  const small = await measureReconcile(5_000);
  const large = await measureReconcile(20_000);
  const row = (m: typeof small): BenchRow => ({
    name: `reconcile ${m.ves} VEs / ${m.hosts} hosts`,
    ours: `${m.reconcileMs.toFixed(0)} ms (${((m.reconcileMs * 1000) / m.ves).toFixed(1)} us/VE)`,
    raw: `ldapsearch ${m.ldapsearchMs.toFixed(0)} ms`,
    ratio: m.reconcileMs / m.ldapsearchMs,
    note: `${m.drift} drift repaired, getJob calls ${m.getJobCalls}, ldapadd load ${(m.loadMs / 1000).toFixed(1)} s`,
  });
  const growth = large.reconcileMs / small.reconcileMs;
  return [row(small), row(large), {
    name: 'reconcile linearity 20k/5k', ours: `x${growth.toFixed(2)}`, raw: `ldapsearch x${(large.ldapsearchMs / small.ldapsearchMs).toFixed(2)}`,
    ratio: growth / 4, note: 'time growth for 4x the VEs; ratio = growth / 4 (1.0 = linear)',
  }];
}

const rows = [
  ...(await runRow('event folding', () => benchEventFolding(2000))),
  ...(await runRow('reconcile', benchReconcile)),
  ...(await runRow('prologue vs virsh', () => benchPrologueVsVirsh(5))),
];
const widths = [36, 34, 30, 7];
const cell = (s: string, w: number): string => s.padEnd(w);
process.stdout.write(`${cell('benchmark', widths[0] ?? 0)}${cell('pbs-ve', widths[1] ?? 0)}${cell('raw tool', widths[2] ?? 0)}${cell('ratio', widths[3] ?? 0)} note\n`);
for (const r of rows) {
  process.stdout.write(`${cell(r.name, widths[0] ?? 0)}${cell(r.ours, widths[1] ?? 0)}${cell(r.raw, widths[2] ?? 0)}${cell(Number.isNaN(r.ratio) ? '-' : r.ratio.toFixed(2), widths[3] ?? 0)} ${r.note}\n`);
}
process.exitCode = rows.some((r) => r.ours === 'FAILED') ? 1 : 0;
