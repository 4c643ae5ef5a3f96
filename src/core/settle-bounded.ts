// Many submissions without many processes at once: at most `limit` calls in flight, and after the first
// failure no new call starts (an all-or-nothing caller is about to undo what was done).

/** one result per item, in item order; undefined for an item never started because another failed first */
export type BoundedResults<R> = (PromiseSettledResult<R> | undefined)[];

// Each worker takes the next item until none is left or one has failed.
export async function settleBounded<T, R>(items: readonly T[], limit: number, call: (item: T, index: number) => Promise<R>): Promise<BoundedResults<R>> {
  const results: BoundedResults<R> = items.map(() => undefined);
  let next = 0;
  let failed = false;
  const work = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await call(items[index] as T, index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, work));
  return results;
}
