/** One line of the benchmark table: our path against the raw tool, measured in the same run. */
export interface BenchRow {
  readonly name: string;
  readonly ours: string;
  readonly raw: string;
  /** ours / raw in time: 1.0 = as fast as the raw tool */
  readonly ratio: number;
  readonly note: string;
}

// Benchmarks time wall clock around awaited work; hrtime is monotonic.
export async function timeMs<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}
