/** What a figure is held to: ours/floor at most or at least a ratio, or ours at most an absolute value. */
export type BenchGoal =
  | { readonly kind: 'ratio-at-most'; readonly value: number }
  | { readonly kind: 'ratio-at-least'; readonly value: number }
  | { readonly kind: 'at-most'; readonly value: number }
  | { readonly kind: 'none' };

/** One line of the benchmark table: our figure against the raw tool's, measured in the same run. */
export interface BenchRow {
  readonly name: string;
  /** our figure in `unit`; undefined when the benchmark failed */
  readonly ours: number | undefined;
  /** the raw tool's figure in `unit`, same run; undefined where there is no floor */
  readonly floor: number | undefined;
  /** ms, ev/s, MiB ... */
  readonly unit: string;
  /** how the floor was measured (bare virsh, raw ldapmodify, sbatch of a trivial job) */
  readonly floorTool: string;
  readonly goal: BenchGoal;
  /** load average and other circumstances; why a goal is missed */
  readonly note: string;
}

// Benchmarks time wall clock around awaited work; hrtime is monotonic.
export async function timeMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/** the p-th percentile (0..100) by nearest rank; NaN for no values */
export function findPercentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}
