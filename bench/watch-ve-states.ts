// The benchmark's own view of LDAP: how long until VEs reach a state, read every 50 ms (ve --wait polls
// slower; the figure is the system's, not the poll's).
import type { Inventory } from '../src/inventory/inventory.js';

const POLL_MS = 50;

/** ms from `since` (hrtime ms) until LDAP shows the VE of jobId in one of `states`; throws after timeoutMs */
export async function waitForVeState(inventory: Inventory, jobId: string, states: readonly string[], since: number, timeoutMs: number): Promise<number> {
  for (;;) {
    const ve = await inventory.getVe(jobId);
    const now = Number(process.hrtime.bigint()) / 1e6;
    if (ve !== undefined && states.includes(ve.state)) return now - since;
    if (now - since > timeoutMs) throw new Error(`job ${jobId}: not ${states.join('/')} in LDAP after ${timeoutMs} ms (${ve?.state ?? 'absent'})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** ms from `since` until every one of jobIds is in one of `states` (one LDAP listing per 500 ms) */
export async function waitForAllVes(inventory: Inventory, jobIds: ReadonlySet<string>, states: readonly string[], since: number, timeoutMs: number): Promise<number> {
  for (;;) {
    const ves = await inventory.listVes({ includeFinal: true });
    const done = ves.filter((v) => jobIds.has(v.jobId) && states.includes(v.state)).length;
    const now = Number(process.hrtime.bigint()) / 1e6;
    if (done === jobIds.size) return now - since;
    if (now - since > timeoutMs) throw new Error(`${done} of ${jobIds.size} VEs ${states.join('/')} in LDAP after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
