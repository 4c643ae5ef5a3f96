// The console's VE list: LDAP entries found by the checked filter, plus queued jobs LDAP cannot know yet.
import type { Batch } from '../batch/batch.js';
import { toPendingRow, type VeRow } from '../qsub-wrappers/list-ves.js';
import { buildConsoleVeFilter } from './build-console-ve-filter.js';
import type { ConsoleSource } from './console-source.js';
import type { ConsoleQuery } from './parse-console-query.js';

export interface ListConsoleVesDeps {
  readonly source: ConsoleSource;
  readonly batch: Batch;
  readonly veQueue: string;
}

export interface ConsoleVeList {
  readonly rows: VeRow[];
  /** what the viewer should know: entries left out, a batch system that did not answer */
  readonly note: string;
}

// query.owner is already scoped (the viewer's own name unless an admin asked for all or another owner).
export async function listConsoleVes(deps: ListConsoleVesDeps, query: ConsoleQuery): Promise<ConsoleVeList> {
  const found = await deps.source.searchVes(buildConsoleVeFilter(query));
  const rows: VeRow[] = found.ves.map((v) => ({ name: v.name, state: v.state, host: v.host, jobId: v.jobId, type: v.type, vcpus: v.vcpus, memoryMiB: v.memoryMiB, owner: v.owner, image: v.image, lastChange: v.lastChange, nodes: v.nodes ?? 1 }));
  const notes: string[] = [];
  if (found.malformed > 0) notes.push(`${found.malformed} malformed inventory entr${found.malformed === 1 ? 'y' : 'ies'} not shown.`);
  // pending VEs exist only as queued jobs: they match no host, and a state filter other than pending excludes them
  if ((query.state === undefined || query.state === 'pending') && query.host === undefined) {
    try {
      const jobs = await deps.batch.listJobs({ queue: deps.veQueue, ...(query.owner === undefined ? {} : { owner: query.owner }) });
      const known = new Set(rows.map((r) => r.jobId));
      const everKnown = query.all ? known : new Set((await deps.source.searchVes(buildConsoleVeFilter({ ...(query.owner === undefined ? {} : { owner: query.owner }), all: true }))).ves.map((v) => v.jobId));
      for (const job of jobs) {
        if (everKnown.has(job.jobId)) continue;
        const row = toPendingRow(job);
        if (row === undefined) continue;
        if (query.search !== undefined && !row.name.includes(query.search)) continue;
        if (query.owner !== undefined && row.owner !== query.owner) continue;
        rows.push(row);
      }
    } catch (err) {
      notes.push(`Queued VEs not shown: the batch system did not answer (${(err as Error).message}).`);
    }
  }
  const shown = query.state === 'pending' ? rows.filter((r) => r.state === 'pending') : rows;
  shown.sort((a, b) => a.name.localeCompare(b.name) || a.jobId.localeCompare(b.jobId, undefined, { numeric: true }));
  return { rows: shown, note: notes.join(' ') };
}
