// The sandbox's underlay: each simulated VE host gets a network namespace of its own with one address,
// all joined by veth pairs on one fabric bridge, so VXLAN between the hosts really crosses a link.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../core/run-command.js';
import { VeError } from '../core/ve-error.js';

export interface SandboxUnderlayHost {
  /** the namespace holding the host's underlay (config network.hosts.<host>.underlay.netns) */
  readonly netns: string;
  /** the host's underlay address (no prefix length) */
  readonly address: string;
  /** the veth end on the fabric bridge, in the machine's namespace */
  readonly fabricPort: string;
}

export interface SandboxUnderlay {
  /** the bridge in the machine's namespace every host's veth is plugged into (no address: pure L2) */
  readonly fabric: string;
  /** VXLAN devices pbs-ve made for this sandbox start with it (teardown removes any left) */
  readonly vxlanPrefix: string;
  readonly hosts: Readonly<Record<string, SandboxUnderlayHost>>;
}

/** the underlay's subnet: its addresses live only in the hosts' namespaces, so every sandbox may use it */
const UNDERLAY_NET = '10.251.0';
/** the device inside each host's namespace */
const UNDERLAY_DEVICE = 'ul0';
const FILE = 'underlay.json';

// Pure: names stay within 15 characters (prefix <= 6) and are unique per sandbox through the prefix.
export function planSandboxUnderlay(prefix: string, hosts: readonly string[]): SandboxUnderlay {
  return {
    fabric: `${prefix}fab`,
    vxlanPrefix: `${prefix}x`,
    hosts: Object.fromEntries(hosts.map((h, i) => [h, { netns: `pbsve-${prefix}-${h}`, address: `${UNDERLAY_NET}.${i + 1}`, fabricPort: `${prefix}u${i}` }])),
  };
}

async function ip(args: readonly string[]): Promise<{ ok: boolean; stdout: string; message: string }> {
  const r = await runCommand('ip', args, { timeoutMs: 10_000 });
  return { ok: r.exitCode === 0, stdout: r.stdout, message: r.stderr.trim() };
}

// Any failure leaves the parts made so far to stopSandboxUnderlay (the plan is written first).
export async function startSandboxUnderlay(dir: string, plan: SandboxUnderlay): Promise<void> {
  writeFileSync(join(dir, FILE), `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o644 });
  const steps: (readonly string[])[] = [
    ['link', 'add', plan.fabric, 'type', 'bridge'],
    ['link', 'set', 'dev', plan.fabric, 'up'],
  ];
  for (const h of Object.values(plan.hosts)) {
    steps.push(
      ['netns', 'add', h.netns],
      ['link', 'add', h.fabricPort, 'type', 'veth', 'peer', 'name', UNDERLAY_DEVICE, 'netns', h.netns],
      ['link', 'set', 'dev', h.fabricPort, 'master', plan.fabric, 'up'],
      ['-n', h.netns, 'link', 'set', 'dev', 'lo', 'up'],
      ['-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', UNDERLAY_DEVICE],
      ['-n', h.netns, 'link', 'set', 'dev', UNDERLAY_DEVICE, 'up'],
    );
  }
  for (const args of steps) {
    const r = await ip(args);
    if (!r.ok) throw new VeError('sandbox-step-failed', 'environment', `sandbox underlay: ip ${args.join(' ')}: ${r.message}`);
  }
}

// Keeps going past failures: VXLAN devices first (pbs-ve's, should a VE's epilogue not have run), then
// the namespaces (their veth ends go with them) and the fabric. Returns what could not be removed.
export async function stopSandboxUnderlay(dir: string): Promise<string[]> {
  const file = join(dir, FILE);
  if (!existsSync(file)) return [];
  const plan = JSON.parse(readFileSync(file, 'utf8')) as SandboxUnderlay;
  const problems: string[] = [];
  const links = await ip(['-o', 'link', 'show', 'type', 'vxlan']);
  const vxlans = links.stdout.split('\n').map((l) => /^\d+: ([^:@\s]+)/.exec(l)?.[1] ?? '').filter((n) => n !== '' && n.startsWith(plan.vxlanPrefix));
  for (const name of vxlans) await ip(['link', 'del', 'dev', name]);
  const namespaces = (await ip(['netns', 'list'])).stdout;
  for (const h of Object.values(plan.hosts)) {
    if (new RegExp(`^${h.netns.replace(/[.]/g, '\\.')}(\\s|$)`, 'm').test(namespaces)) {
      const r = await ip(['netns', 'del', h.netns]);
      if (!r.ok) problems.push(`ip netns del ${h.netns}: ${r.message}`);
    }
    await ip(['link', 'del', 'dev', h.fabricPort]);
  }
  if ((await ip(['-o', 'link', 'show', 'dev', plan.fabric])).ok) {
    const r = await ip(['link', 'del', 'dev', plan.fabric]);
    if (!r.ok) problems.push(`ip link del ${plan.fabric}: ${r.message}`);
  }
  return problems;
}
