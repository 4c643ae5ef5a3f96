// The host side of VE networks: transient libvirt networks (bridge, dnsmasq, isolation rules), VLAN
// devices on the trunk, VXLAN devices of cross-host private networks, and which VE jobs use which
// network, all under one host-wide lock.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { withLockFile } from '../core/with-lock-file.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { runVirsh } from '../virt/run-virsh.js';
import { buildNetworkXml, LIBVIRT_NETWORK_NAME } from '../virt/build-network-xml.js';
import { INTERFACE_NAME_PATTERN } from '../config/network-config.js';
import { chooseSubnet, type HostNetworkPlan, type OverlayPlan } from '../prologue/plan-ve-networks.js';

export interface DhcpLease {
  readonly mac: string;
  readonly ip: string;
}

export interface VeNetworks {
  /** creates what is missing and records jobId as a user of each; on failure undoes what this call created */
  ensure(uri: string, jobId: string, networks: readonly HostNetworkPlan[]): Promise<void>;
  /** forgets jobId; removes managed non-default networks nobody uses any more (returns their names) */
  release(uri: string, jobId: string, networks: readonly HostNetworkPlan[]): Promise<string[]>;
  /** the network's current DHCP leases (none for unmanaged networks) */
  readLeases(uri: string, libvirtName: string): Promise<DhcpLease[]>;
}

export interface VeNetworksOptions {
  readonly stateDir: string;
  readonly log: (line: string) => void;
  readonly run?: RunCommand;
  /** virsh, replaceable in tests */
  readonly virsh?: typeof runVirsh;
  /** the process whose network namespace gets the VXLAN devices (the bridges' and libvirtd's); default this one */
  readonly pid?: number;
}

const LOCK_TIMEOUT_MS = 60_000;
const SUBNET_ATTEMPTS = 4;
const LEASE_LINE = /\s([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+ipv4\s+(\d{1,3}(?:\.\d{1,3}){3})\/\d{1,2}/;

/** virsh net-dhcp-leases output as (mac, ip) pairs */
export function parseDhcpLeases(text: string): DhcpLease[] {
  return text.split('\n').map((line) => LEASE_LINE.exec(line.toLowerCase())).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ mac: m[1] ?? '', ip: m[2] ?? '' }));
}

/** `ip -4 -o addr show` output as address/prefix strings */
export function parseInterfaceAddresses(text: string): string[] {
  return [...text.matchAll(/\sinet (\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2})\s/g)].map((m) => m[1] ?? '');
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const NETNS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const whole = (n: unknown, min: number, max: number): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max;

// The job record is read back by the epilogue: every value of a tunnel is checked again before it reaches ip.
function isOverlayPlan(o: OverlayPlan): boolean {
  return whole(o.vni, 1, 16_777_215) && whole(o.port, 1, 65535) && whole(o.mtu, 576, 9000) && IPV4.test(o.local)
    && INTERFACE_NAME_PATTERN.test(o.device) && (o.underlayDevice === undefined || INTERFACE_NAME_PATTERN.test(o.underlayDevice))
    && (o.netns === undefined || NETNS.test(o.netns)) && Array.isArray(o.peers) && o.peers.length <= 1024 && o.peers.every((p: unknown) => typeof p === 'string' && IPV4.test(p))
    && (o.group === undefined || IPV4.test(o.group));
}

// Names become file names under <stateDir>/networks and arguments of ip/virsh: checked before any use.
function checkPlans(networks: readonly HostNetworkPlan[]): void {
  for (const plan of networks) {
    const names = [plan.bridge, ...(plan.vlan === undefined ? [] : [plan.vlan.trunk, plan.vlan.device])];
    if (!LIBVIRT_NETWORK_NAME.test(plan.libvirtName) || !names.every((n) => INTERFACE_NAME_PATTERN.test(n)) || (plan.overlay !== undefined && !isOverlayPlan(plan.overlay))) {
      throw new VeError('invalid-network', 'prereq', `network ${JSON.stringify(plan.libvirtName)}: not a pbs-ve network plan`);
    }
  }
}

export function createVeNetworks(options: VeNetworksOptions): VeNetworks {
  const run = options.run ?? runCommand;
  const virsh = options.virsh ?? runVirsh;
  const dir = join(options.stateDir, 'networks');
  const usersFile = (name: string): string => join(dir, `${name}.users`);

  const readUsers = (name: string): string[] => {
    try {
      const parsed = JSON.parse(readFileSync(usersFile(name), 'utf8')) as unknown;
      return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === 'string') : [];
    } catch {
      return [];
    }
  };
  const writeUsers = (name: string, users: readonly string[]): void => {
    if (users.length === 0) rmSync(usersFile(name), { force: true });
    else writeFileNoFollow(usersFile(name), `${JSON.stringify(users)}\n`, { mode: 0o644 });
  };

  // "ip" failures are host faults: the admin's trunk is missing, or the kernel lacks 802.1Q.
  const ip = async (args: readonly string[]): Promise<{ ok: boolean; stdout: string; message: string }> => {
    const r = await run('ip', args, { timeoutMs: 10_000 });
    return { ok: r.exitCode === 0, stdout: r.stdout, message: r.stderr.trim() };
  };

  const isActive = async (uri: string, name: string): Promise<boolean | undefined> => {
    const r = await virsh(uri, 'net-info', [], [name]);
    if (!r.ok) return undefined;
    return /^Active:\s+yes$/m.test(r.stdout);
  };

  // A subnet that no address of this host is in; libvirt refuses a colliding one too, then the next is tried.
  const createNetwork = async (uri: string, plan: HostNetworkPlan): Promise<void> => {
    const taken: string[] = [];
    for (let attempt = 0; attempt < SUBNET_ATTEMPTS; attempt += 1) {
      let subnet = plan.subnet;
      // an overlay network has no host address and no DHCP: two hosts' dnsmasq on one segment would fight
      if (plan.managed && subnet === undefined && plan.overlay === undefined) {
        const addrs = await ip(['-4', '-o', 'addr', 'show']);
        subnet = chooseSubnet(plan.subnetPool, `${plan.libvirtName}\0${plan.bridge}`, [...parseInterfaceAddresses(addrs.stdout), ...taken]);
        if (subnet === undefined) throw new VeError('network-pool-full', 'environment', `network ${plan.name}: no free /24 left in ${plan.subnetPool}`);
      }
      const file = join(dir, `${plan.libvirtName}.xml`);
      writeFileNoFollow(file, buildNetworkXml(plan, subnet), { mode: 0o644 });
      const r = await virsh(uri, 'net-create', [], [file]);
      if (r.ok) {
        options.log(`network ${plan.libvirtName}: created on bridge ${plan.bridge}${subnet === undefined ? '' : `, DHCP on ${subnet}`}`);
        return;
      }
      // only an address collision is worth another subnet; anything else is the answer
      if (plan.subnet !== undefined || !plan.managed || subnet === undefined || !/in use|overlap|collides/i.test(r.message)) {
        throw new VeError('network-create-failed', 'environment', `network ${plan.name} (${plan.libvirtName}, bridge ${plan.bridge}): ${r.message}`);
      }
      taken.push(subnet);
    }
    throw new VeError('network-create-failed', 'environment', `network ${plan.name}: every subnet tried collides with an address of this host`);
  };

  const attachVlan = async (plan: HostNetworkPlan): Promise<void> => {
    if (plan.vlan === undefined) return;
    const { trunk, tag, device } = plan.vlan;
    const exists = await ip(['-o', 'link', 'show', 'dev', device]);
    if (!exists.ok) {
      const add = await ip(['link', 'add', 'link', trunk, 'name', device, 'type', 'vlan', 'id', String(tag)]);
      if (!add.ok) throw new VeError('vlan-failed', 'environment', `network ${plan.name}: cannot add VLAN ${tag} on trunk ${trunk}: ${add.message}`);
    }
    for (const args of [['link', 'set', 'dev', device, 'master', plan.bridge], ['link', 'set', 'dev', device, 'up'], ['link', 'set', 'dev', trunk, 'up']]) {
      const r = await ip(args);
      if (!r.ok) throw new VeError('vlan-failed', 'environment', `network ${plan.name}: ip ${args.join(' ')}: ${r.message}`);
    }
  };

  const vniFile = (vni: number): string => join(dir, `vni-${vni}`);

  // Two owners' networks may hash to one VNI: on one host that is refused here (across hosts: docs/design.md).
  const claimVni = (plan: HostNetworkPlan, overlay: OverlayPlan): void => {
    let holder: string | undefined;
    try {
      holder = readFileSync(vniFile(overlay.vni), 'utf8').trim();
    } catch {
      holder = undefined;
    }
    if (holder !== undefined && holder !== plan.libvirtName && readUsers(holder).length > 0) {
      throw new VeError('overlay-vni-collision', 'prereq', `network ${plan.name}: its VXLAN id ${overlay.vni} is already another network's on this host (${holder}); choose another network name`);
    }
    writeFileNoFollow(vniFile(overlay.vni), `${plan.libvirtName}\n`, { mode: 0o644 });
  };

  // The device is made where the underlay is (its UDP socket stays in that namespace), then moved next to
  // the bridge; unicast floods go to every other host (head-end replication), remote MACs are learnt.
  const attachOverlay = async (plan: HostNetworkPlan): Promise<void> => {
    const o = plan.overlay;
    if (o === undefined) return;
    claimVni(plan, o);
    const fail = (what: string, message: string): never => {
      throw new VeError('overlay-failed', 'environment', `network ${plan.name}: ${what}: ${message}`);
    };
    const exists = await ip(['-o', 'link', 'show', 'dev', o.device]);
    if (!exists.ok) {
      const vxlan = [
        'link', 'add', o.device, 'type', 'vxlan', 'id', String(o.vni), 'local', o.local, 'dstport', String(o.port),
        ...(o.underlayDevice === undefined ? [] : ['dev', o.underlayDevice]), ...(o.group === undefined ? [] : ['group', o.group]),
      ];
      const add = await ip(o.netns === undefined ? vxlan : ['-n', o.netns, ...vxlan]);
      if (!add.ok) fail(`cannot add VXLAN ${o.vni} (${o.device}, local ${o.local})`, add.message);
      if (o.netns !== undefined) {
        const move = await ip(['-n', o.netns, 'link', 'set', 'dev', o.device, 'netns', String(options.pid ?? process.pid)]);
        if (!move.ok) {
          await ip(['-n', o.netns, 'link', 'del', 'dev', o.device]);
          fail(`cannot move ${o.device} out of namespace ${o.netns}`, move.message);
        }
      }
    }
    for (const args of [['link', 'set', 'dev', o.device, 'mtu', String(o.mtu)], ['link', 'set', 'dev', o.device, 'master', plan.bridge], ['link', 'set', 'dev', o.device, 'up']]) {
      const r = await ip(args);
      if (!r.ok) fail(`ip ${args.join(' ')}`, r.message);
    }
    for (const peer of o.peers) {
      const r = await run('bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', o.device, 'dst', peer], { timeoutMs: 10_000 });
      if (r.exitCode !== 0 && !/exists/i.test(r.stderr)) fail(`bridge fdb append ... dst ${peer}`, r.stderr.trim());
    }
  };

  const destroyNetwork = async (uri: string, plan: HostNetworkPlan): Promise<void> => {
    const r = await virsh(uri, 'net-destroy', [], [plan.libvirtName]);
    if (!r.ok && !/not found|no network/i.test(r.message)) options.log(`network ${plan.libvirtName}: net-destroy: ${r.message}`);
    if (plan.vlan !== undefined) await ip(['link', 'del', 'dev', plan.vlan.device]);
    if (plan.overlay !== undefined) {
      await ip(['link', 'del', 'dev', plan.overlay.device]);
      let holder = '';
      try {
        holder = readFileSync(vniFile(plan.overlay.vni), 'utf8').trim();
      } catch {
        holder = '';
      }
      if (holder === plan.libvirtName) rmSync(vniFile(plan.overlay.vni), { force: true });
    }
    rmSync(join(dir, `${plan.libvirtName}.xml`), { force: true });
  };

  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return withLockFile(join(dir, 'lock'), LOCK_TIMEOUT_MS, fn);
  };

  return {
    ensure: (uri, jobId, networks) => locked(async () => {
      checkPlans(networks);
      const created: HostNetworkPlan[] = [];
      const joined: HostNetworkPlan[] = [];
      try {
        for (const plan of networks) {
          const active = await isActive(uri, plan.libvirtName);
          if (active === false) {
            const r = await virsh(uri, 'net-start', [], [plan.libvirtName]);
            if (!r.ok) throw new VeError('network-start-failed', 'environment', `network ${plan.libvirtName}: ${r.message}`);
          } else if (active === undefined) {
            await createNetwork(uri, plan);
            created.push(plan);
          }
          await attachVlan(plan);
          await attachOverlay(plan);
          writeUsers(plan.libvirtName, [...readUsers(plan.libvirtName).filter((u) => u !== jobId), jobId]);
          joined.push(plan);
        }
      } catch (err) {
        for (const plan of joined) writeUsers(plan.libvirtName, readUsers(plan.libvirtName).filter((u) => u !== jobId));
        for (const plan of created) if (plan.kind !== 'default' && readUsers(plan.libvirtName).length === 0) await destroyNetwork(uri, plan);
        throw err;
      }
    }),

    release: (uri, jobId, networks) => locked(async () => {
      checkPlans(networks);
      const destroyed: string[] = [];
      for (const plan of networks) {
        const users = readUsers(plan.libvirtName).filter((u) => u !== jobId);
        writeUsers(plan.libvirtName, users);
        // the default network is every VE's: it stays for the next one (and goes with libvirtd)
        if (plan.kind === 'default' || !plan.managed || users.length > 0) continue;
        await destroyNetwork(uri, plan);
        destroyed.push(plan.libvirtName);
      }
      return destroyed;
    }),

    async readLeases(uri, libvirtName) {
      if (!LIBVIRT_NETWORK_NAME.test(libvirtName)) return [];
      const r = await virsh(uri, 'net-dhcp-leases', [], [libvirtName]);
      return r.ok ? parseDhcpLeases(r.stdout) : [];
    },
  };
}
