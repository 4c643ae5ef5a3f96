// npm run bench: every figure of issue 12 beside the raw tool measured in the same run; no thresholds
// anywhere but in the goal column. Options: --json (JSON lines), --storm 64,128 (the boot storm),
// --only folding,reconcile,prologue,lifecycle,storm, --backends slurm,torque, --rounds N, --no-doc,
// --create-batch K (storm: each user's ve create makes K VEs with --count; default 1, one command a VE).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCommand } from '../src/core/run-command.js';
import { PROJECT_DIR, type SandboxBatch } from '../src/sandbox/sandbox.js';
import { SANDBOX_USER } from '../src/sandbox/sandbox.js';
import { measureEventFolding } from './bench-event-folding.js';
import { measureReconcile, type ReconcileMeasure } from './bench-reconcile.js';
import { measurePrologueVsVirsh } from './bench-prologue-virsh.js';
import { buildLifecycleRows, measureVeLifecycle } from './bench-ve-lifecycle.js';
import { FLOOR_IN_FLIGHT, IDLE_CPU_MS, measureBootStorm, STORM_USERS, type StormMeasure } from './bench-boot-storm.js';
import { withBenchSandbox } from './with-bench-sandbox.js';
import { MAX_VE_COUNT } from '../src/core/expand-ve-names.js';
import { judgeBenchRow } from './judge-bench-row.js';
import { formatBenchTable } from './format-bench-table.js';
import { writeBenchmarksDoc, type RecordedRow, type StormPoint } from './write-benchmarks-doc.js';
import type { BenchRow } from './bench-row.js';

const GROUPS = ['folding', 'reconcile', 'prologue', 'lifecycle', 'storm'] as const;
type Group = (typeof GROUPS)[number];

interface BenchOptions {
  readonly json: boolean;
  readonly groups: ReadonlySet<Group>;
  readonly storm: readonly number[];
  readonly backends: readonly SandboxBatch[];
  readonly rounds: number;
  readonly writeDoc: boolean;
  /** VEs a storm user's `ve create` makes (--count); 1: one command a VE */
  readonly createBatch: number;
}

// Bad options say which and what was expected, like every pbs-ve command.
function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      json: { type: 'boolean', default: false },
      storm: { type: 'string' },
      only: { type: 'string' },
      backends: { type: 'string', default: 'slurm,torque' },
      rounds: { type: 'string', default: '10' },
      'no-doc': { type: 'boolean', default: false },
      'create-batch': { type: 'string', default: '1' },
    },
  });
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const storm = values.storm === undefined ? [] : list(values.storm).map(Number);
  if (storm.some((n) => !Number.isInteger(n) || n < 4 || n > 4096)) throw new Error(`--storm: must be VE counts from 4 to 4096 separated by commas (got ${values.storm ?? ''})`);
  const only = values.only === undefined ? [...GROUPS.filter((g) => g !== 'storm'), ...(storm.length > 0 ? ['storm' as const] : [])] : list(values.only);
  for (const g of only) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: must name some of ${GROUPS.join(',')} (got ${g})`);
  if (only.includes('storm') && storm.length === 0) storm.push(64);
  const backends = list(values.backends);
  for (const b of backends) if (b !== 'slurm' && b !== 'torque') throw new Error(`--backends: must be slurm and/or torque (got ${b})`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) throw new Error(`--rounds: must be a whole number from 1 to 1000 (got ${values.rounds})`);
  const createBatch = Number(values['create-batch']);
  if (!Number.isInteger(createBatch) || createBatch < 1 || createBatch > MAX_VE_COUNT) throw new Error(`--create-batch: must be a whole number from 1 to ${MAX_VE_COUNT} (got ${values['create-batch']})`);
  return { json: values.json, groups: new Set(only as Group[]), storm, backends: backends as SandboxBatch[], rounds, writeDoc: !values['no-doc'], createBatch };
}

const say = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };

async function readLoad(): Promise<string> {
  return (await runCommand('uptime', [], {})).stdout.trim().replace(/^.*load average: /, 'load ');
}

// A failing benchmark is a row saying so: the others still report.
async function runGroup(name: string, fn: () => Promise<BenchRow[]>): Promise<BenchRow[]> {
  say(`${name} ...`);
  try {
    return await fn();
  } catch (err) {
    say(`${name} FAILED: ${(err as Error).stack ?? String(err)}`);
    return [{ name: `${name} (FAILED)`, ours: undefined, floor: undefined, unit: '', floorTool: '', goal: { kind: 'none' }, note: (err as Error).message.slice(0, 300) }];
  }
}

async function benchFolding(): Promise<BenchRow[]> {
  const load = await readLoad();
  const m = await measureEventFolding(2000);
  return [{ name: `event folding (${m.events} events)`, ours: m.oursPerSecond, floor: m.rawPerSecond, unit: 'ev/s', floorTool: 'raw ldapmodify, same writes', goal: { kind: 'ratio-at-least', value: 0.5 }, note: `seq CAS and idempotent history kept; ${load}` }];
}

// Where a pass spends its time, so the note says what is left above the floor.
function formatReconcilePhases(m: ReconcileMeasure): string {
  const p = m.phases;
  const ms = (v: number): string => `${Math.round(v)}`;
  return `listing ${ms(p.listMs)} ms, compare ${ms(p.compareMs)}, ${m.drift / 2} repairs ${ms(p.repairMs)} (read, CAS, history; 8 at a time), ${m.drift / 2} unknown-job reads ${ms(p.unknownMs)}, rest ${ms(p.restMs)}; ${ms(m.cpuMs)} ms CPU in the pass`;
}

// Linearity is the point: the time per VE at 20,000 and at 100,000 should match.
async function benchReconcile(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const per: number[] = [];
  for (const n of [20_000, 100_000]) {
    const load = await readLoad();
    const m = await measureReconcile(n);
    per.push(m.reconcileMs / n);
    rows.push({ name: `reconcile ${n} VEs / ${m.hosts} hosts`, ours: m.reconcileMs, floor: m.ldapsearchMs, unit: 'ms', floorTool: 'raw paged ldapsearch', goal: { kind: 'ratio-at-most', value: 2 }, note: `${m.drift} drift items (${m.drift / 2} lost VEs written, ${m.drift / 2} unknown jobs reported), ${m.getJobCalls} getJob calls; floor and ours ask the live VEs' 5 attributes reconcile reads; ${formatReconcilePhases(m)}; ${load}` });
  }
  const [small, large] = per;
  if (small !== undefined && large !== undefined) {
    rows.push({ name: 'reconcile time per VE, 100k / 20k', ours: large / small, floor: undefined, unit: 'x', floorTool: '', goal: { kind: 'at-most', value: 1.25 }, note: '1.0 = linear' });
  }
  return rows;
}

async function benchPrologue(): Promise<BenchRow[]> {
  const load = await readLoad();
  const m = await measurePrologueVsVirsh(7);
  return [{
    name: 'prologue libvirt path (LXC)', ours: m.oursUpMs + m.oursDownMs, floor: m.virshUpMs + m.virshDownMs, unit: 'ms', floorTool: 'bare virsh',
    goal: { kind: 'ratio-at-most', value: 1.3 },
    note: `median of ${m.rounds}; define+start+running ${m.oursUpMs.toFixed(0)} vs ${m.virshUpMs.toFixed(0)} ms, destroy+undefine of a settled guest ${m.oursDownMs.toFixed(0)} vs ${m.virshDownMs.toFixed(0)} ms; ${load}`,
  }];
}

async function benchLifecycle(batch: SandboxBatch, rounds: number): Promise<BenchRow[]> {
  return withBenchSandbox(batch, { users: [SANDBOX_USER], log: say }, async (info) => {
    const load = await readLoad();
    const times = await measureVeLifecycle(info, rounds, say);
    return buildLifecycleRows(batch, times, `${load} at start`);
  });
}

// One sandbox per backend, big enough for the largest storm; the sizes run one after another on it, and a
// size that fails is a row saying so while the sizes measured before it still report.
async function benchStorm(batch: SandboxBatch, sizes: readonly number[], points: StormPoint[], measuredAt: string, createBatch: number): Promise<BenchRow[]> {
  const largest = Math.max(...sizes);
  const rows: BenchRow[] = [];
  const measures: StormMeasure[] = await withBenchSandbox(batch, { users: [...STORM_USERS], nodeCpus: Math.ceil(largest / 2) + 8, nodeMemoryMiB: largest * 64 + 4096, log: say }, async (info) => {
    const out: StormMeasure[] = [];
    for (const n of sizes) {
      try {
        out.push(await measureBootStorm(info, n, say, createBatch));
      } catch (err) {
        say(`storm ${n} (${batch}) FAILED: ${(err as Error).stack ?? String(err)}`);
        rows.push({ name: `boot storm ${n} VEs (${batch}) (FAILED)`, ours: undefined, floor: undefined, unit: '', floorTool: '', goal: { kind: 'none' }, note: (err as Error).message.slice(0, 300) });
        break;
      }
    }
    return out;
  });
  for (const m of measures) {
    const loads = `${m.load.replace('load average: ', 'load ')} at start, ${m.loadAfter.replace('load average: ', '')} after`;
    const top = m.cpu.filter((c) => !c.what.startsWith('outside')).slice(0, 3).map((c) => `${(c.cpuSeconds * 1000 / m.ves).toFixed(0)} ms ${c.what}`).join(', ');
    const total = m.cpu.filter((c) => !c.what.startsWith('outside')).reduce((a, c) => a + c.cpuSeconds, 0);
    // rows made with ve create --count say so in their names, and stay out of the storm chart of one create a VE
    const via = m.createBatch === 1 ? '' : `, ve create --count ${m.createBatch}`;
    if (m.createBatch === 1) points.push({ batch, ves: m.ves, oursSeconds: m.allRunningMs / 1000, floorSeconds: m.floorMs / 1000, measuredAt });
    rows.push({
      name: `boot storm ${m.ves} VEs, all running (${batch}${via})`, ours: m.allRunningMs / 1000, floor: m.floorMs / 1000, unit: 's', floorTool: `${m.ves} trivial jobs${m.ves > FLOOR_IN_FLIGHT ? `, at most ${FLOOR_IN_FLIGHT} waiting to start` : ''}`,
      goal: m.ves === 512 ? { kind: 'at-most', value: 53.5 } : { kind: 'none' },
      note: `${STORM_USERS.length} users at once, their ve creates done after ${(m.submittedMs / 1000).toFixed(1)} s; all destroyed ${(m.allDestroyedMs / 1000).toFixed(1)} s after the first ve destroy; ${m.problems.length === 0 ? 'nothing lost or left behind (LDAP once each, history, domains, job dirs with disks, NICs, id slots, processes)' : `PROBLEMS: ${m.problems.slice(0, 5).join('; ')}`}; ${loads}`,
    });
    rows.push({ name: `boot storm ${m.ves} VEs, time per VE (${batch}${via})`, ours: m.allRunningMs / m.ves, floor: m.floorMs / m.ves, unit: 'ms', floorTool: 'trivial jobs', goal: { kind: 'at-most', value: 53_500 / 512 }, note: `flat from 64 to 512 is the goal; CPU in this sandbox until all running ${(total * 1000 / m.ves).toFixed(0)} ms/VE, most: ${top}` });
    rows.push({
      name: `pbs-ve host memory per VE at ${m.ves} (${batch})`, ours: (m.memory.perJobMiB + m.memory.hostLevelMiB) / m.ves, floor: undefined, unit: 'MiB', floorTool: '', goal: { kind: 'at-most', value: 2 },
      note: `PSS (smaps_rollup) of ${m.memory.processes} processes: ${m.memory.perJobMiB.toFixed(1)} MiB in ${m.memory.jobProcesses} job bodies, ${m.memory.hostLevelMiB.toFixed(1)} MiB host-level (ve-host-watch + virsh event, 2 hosts)`,
    });
    rows.push({
      name: `pbs-ve idle CPU, ${m.ves} VEs running (${batch})`, ours: m.idleCpuSeconds, floor: undefined, unit: `s CPU in ${IDLE_CPU_MS / 1000} s`, floorTool: '', goal: { kind: 'none' },
      note: `no periodic work per VE is the goal: job bodies block on a FIFO, the watcher waits on libvirt events; ${m.memory.processes} processes watched`,
    });
  }
  return rows;
}

const options = parseOptions(process.argv.slice(2));
const measuredAt = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
const startLoad = await readLoad();
const rows: BenchRow[] = [];
const storm: StormPoint[] = [];
if (options.groups.has('folding')) rows.push(...(await runGroup('event folding', benchFolding)));
if (options.groups.has('reconcile')) rows.push(...(await runGroup('reconcile', benchReconcile)));
if (options.groups.has('prologue')) rows.push(...(await runGroup('prologue vs virsh', benchPrologue)));
for (const batch of options.backends) {
  if (options.groups.has('lifecycle')) rows.push(...(await runGroup(`ve lifecycle (${batch})`, () => benchLifecycle(batch, options.rounds))));
}
for (const batch of options.backends) {
  if (options.groups.has('storm')) rows.push(...(await runGroup(`boot storm (${batch})`, () => benchStorm(batch, options.storm, storm, measuredAt, options.createBatch))));
}
const judged = rows.map(judgeBenchRow);
if (options.json) for (const r of judged) process.stdout.write(`${JSON.stringify(r)}\n`);
else process.stdout.write(formatBenchTable(judged));
if (options.writeDoc) {
  const recorded: RecordedRow[] = judged.filter((r) => !r.name.endsWith('(FAILED)')).map((r) => ({ ...r, measuredAt, load: startLoad }));
  writeBenchmarksDoc(join(PROJECT_DIR, 'docs'), recorded, storm, `${measuredAt}, ${startLoad} at start, \`${['npm run bench --', ...process.argv.slice(2)].join(' ')}\``);
  say('docs/benchmarks.md written');
}
process.exitCode = rows.some((r) => r.ours === undefined) ? 1 : 0;
