// Integration tests poll real services: one waiting loop for all of them, failing with what it waited for.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, pollMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(pollMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}
