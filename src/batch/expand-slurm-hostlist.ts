// Slurm prints node sets as hostlists ("node[01-03,7],mon1"); pbs-ve needs the plain host names.
import { VeError } from '../core/ve-error.js';

/** more hosts than any cluster pbs-ve drives: a bigger expansion is a hostile or broken string */
export const MAX_HOSTLIST_HOSTS = 100_000;

const HOST_TEXT = /^[A-Za-z0-9._-]*$/;
const RANGE = /^(\d+)(?:-(\d+))?$/;

// Top-level commas separate hosts, commas inside brackets separate ranges: split only the former.
function splitTopLevel(hostlist: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of hostlist) {
    if (ch === '[') depth += 1;
    if (ch === ']') depth -= 1;
    if (depth < 0 || depth > 1) throw badHostlist(hostlist, 'unbalanced brackets');
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw badHostlist(hostlist, 'unbalanced brackets');
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

// One error shape for every way a hostlist can be malformed, naming the offending text.
function badHostlist(hostlist: string, rule: string): VeError {
  return new VeError('bad-hostlist', 'exec', `hostlist ${JSON.stringify(hostlist.slice(0, 200))}: ${rule}`);
}

// "01-03,7" -> ["01","02","03","7"], keeping the zero padding of the lower bound as Slurm does.
function expandRanges(spec: string, hostlist: string, budget: number): string[] {
  const out: string[] = [];
  for (const item of spec.split(',')) {
    const m = RANGE.exec(item.trim());
    if (!m?.[1]) throw badHostlist(hostlist, `bad range "${item}"`);
    const lowText = m[1];
    const low = Number(lowText);
    const high = m[2] === undefined ? low : Number(m[2]);
    if (high < low) throw badHostlist(hostlist, `descending range "${item}"`);
    if (out.length + (high - low + 1) > budget) throw badHostlist(hostlist, `more than ${MAX_HOSTLIST_HOSTS} hosts`);
    for (let n = low; n <= high; n += 1) out.push(String(n).padStart(lowText.length, '0'));
  }
  return out;
}

// One hostlist element may hold several bracket groups ("r[1-2]n[1-3]"): their cartesian product.
function expandElement(element: string, hostlist: string): string[] {
  let names = [''];
  let rest = element;
  while (rest !== '') {
    const open = rest.indexOf('[');
    const prefix = open === -1 ? rest : rest.slice(0, open);
    if (!HOST_TEXT.test(prefix)) throw badHostlist(hostlist, `bad host name text "${prefix}"`);
    names = names.map((n) => n + prefix);
    if (open === -1) break;
    const close = rest.indexOf(']', open);
    if (close === -1) throw badHostlist(hostlist, 'unbalanced brackets');
    const suffixes = expandRanges(rest.slice(open + 1, close), hostlist, Math.floor(MAX_HOSTLIST_HOSTS / names.length));
    names = names.flatMap((n) => suffixes.map((s) => n + s));
    rest = rest.slice(close + 1);
  }
  return names;
}

// Hosts in Slurm's order, duplicates kept out; "" and "(null)" mean no hosts at all.
export function expandSlurmHostlist(hostlist: string): string[] {
  const text = hostlist.trim();
  if (text === '' || text === '(null)' || text === 'None') return [];
  const hosts: string[] = [];
  const seen = new Set<string>();
  for (const element of splitTopLevel(text)) {
    for (const host of expandElement(element, text)) {
      if (seen.has(host)) continue;
      seen.add(host);
      hosts.push(host);
      if (hosts.length > MAX_HOSTLIST_HOSTS) throw badHostlist(text, `more than ${MAX_HOSTLIST_HOSTS} hosts`);
    }
  }
  return hosts;
}
