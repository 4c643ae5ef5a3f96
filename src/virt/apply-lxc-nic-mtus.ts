// libvirt 9.0's LXC driver applies an <interface>'s <mtu> to the host end of the veth only; the container
// end stays at 1500, so a guest on a VXLAN overlay sends frames the underlay must drop. This sets the
// container ends from the host, in the container's network namespace, by MAC (the guest may rename NICs).
import { setTimeout as sleep } from 'node:timers/promises';
import { parseXmlSync } from '../core/parse-xml-sync.js';
import { VeError } from '../core/ve-error.js';
import type { RunCommand } from '../core/run-command.js';
import { readFile, readlink } from 'node:fs/promises';

export interface NicMtu {
  /** lower-case aa:bb:cc:dd:ee:ff, as libvirt writes it */
  readonly mac: string;
  readonly mtu: number;
}

export interface GuestLink {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const LINK_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

interface XmlElement {
  readonly $?: Readonly<Record<string, string>>;
  readonly [child: string]: unknown;
}

// Reads the interfaces that ask for an MTU from a live domain XML (libvirt filled in every MAC by then).
export function readInterfaceMtus(xml: string): NicMtu[] {
  const parsed = parseXmlSync(xml, { strict: true, explicitArray: true });
  const domain = parsed.ok ? (parsed.document as { domain?: XmlElement } | undefined)?.domain : undefined;
  if (domain === undefined) throw new VeError('invalid-domain-xml', 'exec', 'domain XML is not a <domain> document', { cause: parsed.ok ? undefined : parsed.failure });
  const devices = (domain['devices'] as XmlElement[] | undefined)?.[0];
  const interfaces = (devices?.['interface'] as XmlElement[] | undefined) ?? [];
  return interfaces.flatMap((nic) => {
    const mac = (nic['mac'] as XmlElement[] | undefined)?.[0]?.$?.['address']?.toLowerCase();
    const size = (nic['mtu'] as XmlElement[] | undefined)?.[0]?.$?.['size'];
    const mtu = size === undefined ? NaN : Number(size);
    return mac !== undefined && MAC.test(mac) && Number.isSafeInteger(mtu) && mtu >= 68 ? [{ mac, mtu }] : [];
  });
}

// `ip -o link` lines: "12: eth1@if13: <BROADCAST,...> mtu 1500 qdisc ... \    link/ether 52:54:00:12:34:56 brd ..."
export function parseGuestLinks(stdout: string): GuestLink[] {
  return stdout.split('\n').flatMap((line) => {
    const m = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s.*?\smtu (\d+)\s.*link\/ether ([0-9a-f:]{17})\b/.exec(line);
    return m?.[1] === undefined || m[2] === undefined || m[3] === undefined ? [] : [{ name: m[1], mtu: Number(m[2]), mac: m[3] }];
  });
}

const INIT_WAIT_MS = 3000;
const RETRY_MS = 50;


// The LXC domain id is its libvirt_lxc controller's pid; the container's init is that process's child, in a
// network namespace of its own (a child still in the controller's namespace has not become the container yet).
export async function findLxcInitPid(controllerPid: number, domain: string): Promise<number> {
  if (!Number.isSafeInteger(controllerPid) || controllerPid < 2) throw new VeError('virt-failed', 'exec', `libvirt start ${domain}: no controller process id (got ${String(controllerPid)})`);
  const deadline = Date.now() + INIT_WAIT_MS;
  for (;;) {
    const hostNet = await readlink(`/proc/${controllerPid}/ns/net`).catch(() => undefined);
    const children = await readFile(`/proc/${controllerPid}/task/${controllerPid}/children`, 'utf8').catch(() => '');
    for (const word of children.trim().split(/\s+/)) {
      const pid = Number(word);
      if (!Number.isSafeInteger(pid) || pid < 2) continue;
      const net = await readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
      if (net !== undefined && hostNet !== undefined && net !== hostNet) return pid;
    }
    if (Date.now() >= deadline) throw new VeError('virt-failed', 'exec', `libvirt start ${domain}: the container's init (a child of controller ${controllerPid} in its own network namespace) did not appear within ${INIT_WAIT_MS} ms`, { details: { domain, controllerPid } });
    await sleep(RETRY_MS);
  }
}

// Sets each NIC's MTU inside the namespace of the container whose init is initPid; a NIC that is not
// there (or a link name that is not a plain name) is an error, never a guess. The container may rename a
// NIC while this runs: a failed set is tried again with a fresh listing until the deadline.
export async function applyLxcNicMtus(initPid: number, nics: readonly NicMtu[], run: RunCommand, domain: string): Promise<void> {
  if (nics.length === 0) return;
  const netns = `--net=/proc/${initPid}/ns/net`;
  const deadline = Date.now() + INIT_WAIT_MS;
  const fail = (what: string, cause?: unknown): never => {
    throw new VeError('virt-failed', 'exec', `libvirt start ${domain}: setting the container NIC MTU failed: ${what}`, { cause, details: { domain, initPid } });
  };
  for (;;) {
    const listed = await run('nsenter', [netns, '--', 'ip', '-o', 'link', 'show'], { timeoutMs: 10_000 });
    if (listed.exitCode !== 0) fail(`ip link show: ${listed.stderr.trim()}`);
    const links = parseGuestLinks(listed.stdout);
    let failure: string | undefined;
    for (const nic of nics) {
      const link = links.find((l) => l.mac === nic.mac);
      if (link === undefined) failure = `no NIC with MAC ${nic.mac} in the container`;
      else if (link.mtu !== nic.mtu) {
        if (!LINK_NAME.test(link.name)) fail(`unexpected link name ${JSON.stringify(link.name)}`);
        const set = await run('nsenter', [netns, '--', 'ip', 'link', 'set', 'dev', link.name, 'mtu', String(nic.mtu)], { timeoutMs: 10_000 });
        if (set.exitCode !== 0) failure = `ip link set dev ${link.name} mtu ${nic.mtu}: ${set.stderr.trim()}`;
      }
    }
    if (failure === undefined) return;
    if (Date.now() >= deadline) fail(failure);
    await sleep(RETRY_MS);
  }
}
