// Where the boot storm's CPU goes, measured: Linux process accounting (accton; one record per process that
// exits) for the short-lived processes, /proc for the ones still alive, each charged to the daemon of THIS
// sandbox it descends from (slurmd of node1, libvirtd, the bench's own `ve` clients ...). Processes of other
// work on the machine descend from none of them and are only summed, as the load they added.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { runCommand } from '../src/core/run-command.js';

export interface CpuShare {
  /** "<sandbox daemon>: <command> (under <nearest named ancestor>)" or "<daemon> itself" */
  readonly what: string;
  readonly cpuSeconds: number;
  readonly processes: number;
}

export interface CpuAccount {
  /** stops accounting and returns the shares, largest first (the last row: CPU outside this sandbox) */
  stop(): Promise<CpuShare[]>;
}

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** epoch seconds */
  readonly start: number;
  /** epoch seconds; Infinity while alive */
  readonly end: number;
  /** CPU seconds, user + system */
  readonly cpu: number;
}

const HZ = 100;

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

const bootTime = (): number => Number(/^btime ([0-9]+)/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0);

// Every live process with its CPU so far, and the label of the sandbox daemons (command line or environment naming the sandbox).
async function snapshotProcesses(sandboxDir: string): Promise<{ procs: Map<number, Proc>; roots: Map<number, string> }> {
  const boot = bootTime();
  const procs = new Map<number, Proc>();
  const roots = new Map<number, string>();
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const stat = await readText(`/proc/${name}/stat`);
    if (stat === '') continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    procs.set(pid, { pid, ppid: Number(f[1]), comm, start: boot + Number(f[19]) / HZ, end: Infinity, cpu: (Number(f[11]) + Number(f[12])) / HZ });
    if (pid === process.pid) { roots.set(pid, 'bench (ve create/destroy clients, sbatch/qsub of the floor)'); continue; }
    const cmdline = (await readText(`/proc/${name}/cmdline`)).split('\0');
    const env = await readText(`/proc/${name}/environ`);
    if (!cmdline.join(' ').includes(sandboxDir) && !env.includes(sandboxDir)) continue;
    const node = cmdline.find((a) => /^(node[0-9]+|mon[0-9]+)$/.test(a)) ?? /(?:^|\0)SLURMD_NODENAME=([^\0]+)/.exec(env)?.[1] ?? /hosts\/([a-z0-9]+)\//.exec(cmdline.join(' '))?.[1];
    const label = comm === 'node' ? `node ${cmdline[1]?.split('/dist/')[1] ?? ''}` : comm;
    roots.set(pid, node === undefined ? label : `${label} ${node}`);
  }
  return { procs, roots };
}

// linux/acct.h acct_v3: 64 bytes; comp_t is a 13-bit mantissa with a base-8 exponent, in AHZ (100/s) ticks.
function readAcctFile(file: string): Proc[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return [];
  }
  const comp = (v: number): number => ((v & 0x1fff) << (3 * (v >> 13))) / HZ;
  const out: Proc[] = [];
  for (let o = 0; o + 64 <= buf.length; o += 64) {
    if (buf.readUInt8(o + 1) !== 3) continue;
    const start = buf.readUInt32LE(o + 24);
    const comm = buf.subarray(o + 48, o + 64).toString('latin1').replace(/\0.*$/s, '');
    out.push({ pid: buf.readUInt32LE(o + 16), ppid: buf.readUInt32LE(o + 20), comm, start, end: start + buf.readFloatLE(o + 28) / HZ, cpu: comp(buf.readUInt16LE(o + 32)) + comp(buf.readUInt16LE(o + 34)) });
  }
  return out;
}

/** Starts accounting into `file` (root; one accounting file per machine: no other run may use accton meanwhile). */
export async function startCpuAccount(sandboxDir: string, file: string): Promise<CpuAccount> {
  // accton appends to an existing file only
  writeFileSync(file, '', { mode: 0o600 });
  const before = await snapshotProcesses(sandboxDir);
  const on = await runCommand('accton', [file], { timeoutMs: 10_000 });
  if (on.exitCode !== 0) throw new Error(`accton ${file}: ${on.stderr.trim()} (scripts/install-deps.sh installs acct)`);
  return {
    async stop() {
      const after = await snapshotProcesses(sandboxDir);
      await runCommand('accton', ['off'], { timeoutMs: 10_000 });
      const exited = readAcctFile(file);
      rmSync(file, { force: true });
      const roots = new Map([...before.roots, ...after.roots]);
      // every process known, by pid, for the parent walk: a pid may have been reused, so the parent is
      // the one with that pid that had started before the child and not yet ended
      const byPid = new Map<number, Proc[]>();
      const all = [...after.procs.values(), ...exited];
      for (const p of [...before.procs.values(), ...all]) byPid.set(p.pid, [...(byPid.get(p.pid) ?? []), p]);
      const parentOf = (p: Proc): Proc | undefined => (byPid.get(p.ppid) ?? []).filter((q) => q.start <= p.start + 1 && q.end >= p.start - 1).sort((a, b) => b.start - a.start)[0];
      const shares = new Map<string, { cpu: number; n: number }>();
      const add = (what: string, cpu: number): void => {
        const s = shares.get(what) ?? { cpu: 0, n: 0 };
        shares.set(what, { cpu: s.cpu + cpu, n: s.n + 1 });
      };
      let outside = 0;
      for (const p of all) {
        // the CPU of this window only: a process alive at the start had some already
        const had = before.procs.get(p.pid);
        const cpu = had !== undefined && had.start === p.start ? p.cpu - had.cpu : had !== undefined && Math.abs(had.start - p.start) <= 1 ? Math.max(0, p.cpu - had.cpu) : p.cpu;
        if (cpu <= 0) continue;
        const own = roots.get(p.pid);
        if (own !== undefined && p.end === Infinity) { add(`${own} itself`, cpu); continue; }
        let named: string | undefined;
        let q: Proc | undefined = p;
        let root: string | undefined;
        for (let depth = 0; depth < 30 && q !== undefined; depth++) {
          q = parentOf(q);
          if (q === undefined) break;
          root = roots.get(q.pid);
          if (root !== undefined) break;
          if (named === undefined && !['node', 'sh', 'bash', 'dash', 'runuser', 'env'].includes(q.comm)) named = q.comm;
        }
        if (root === undefined) { outside += cpu; continue; }
        add(`${root}: ${p.comm}${named === undefined ? '' : ` (under ${named})`}`, cpu);
      }
      const rows = [...shares].map(([what, s]) => ({ what, cpuSeconds: s.cpu, processes: s.n })).sort((a, b) => b.cpuSeconds - a.cpuSeconds);
      rows.push({ what: 'outside this sandbox (other work on the machine)', cpuSeconds: outside, processes: 0 });
      return rows;
    },
  };
}
