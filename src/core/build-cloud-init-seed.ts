import { VeError } from './ve-error.js';
import { validateSshPublicKeys } from './validate-ssh-public-key.js';
import { validateGuestHostname } from './validate-ve-hosts.js';
import { buildEtcHosts } from './build-etc-hosts.js';
import { validateBootScript } from './validate-boot-script.js';
import type { VeHostEntry } from './ve-spec.js';
import { MAC_PATTERN } from './ve-nic.js';
import { parseIpv4Prefix } from './parse-ipv4-prefix.js';

/** The files of a cloud-init NoCloud seed (the volume labelled "cidata"). */
export interface CloudInitSeed {
  /** instance-id and local-hostname */
  readonly metaData: string;
  /** "#cloud-config" followed by JSON (JSON is YAML, and JSON.stringify quotes every user string) */
  readonly userData: string;
  /** network-config version 2 as JSON, one NIC a line; only when a NIC has a static address */
  readonly networkConfig?: string;
}

/** one NIC of the guest, in order: its MAC and, on a private network, its static A.B.C.D/LEN */
export interface SeedNic {
  readonly mac: string;
  readonly address?: string;
}

export interface CloudInitSeedInput {
  /** the domain name: a new VE (job) is a new instance, so cloud-init runs its first-boot modules again */
  readonly instanceId: string;
  readonly hostname: string;
  readonly sshKeys: readonly string[];
  /** extra /etc/hosts entries; absent or empty = cloud-init's own /etc/hosts handling is left alone */
  readonly hosts?: readonly VeHostEntry[];
  /** the NICs; a static address on any makes a network-config (the others then ask DHCP) */
  readonly nics?: readonly SeedNic[];
  /** the owner's boot script: cloud-init's per-boot script directory; absent = none */
  readonly bootScript?: string;
}

/** cloud-init runs the scripts of this directory at every boot (the first included), as the LXC init runs /etc/pbs-ve/boot.sh */
export const CLOUD_INIT_BOOT_SCRIPT = '/var/lib/cloud/scripts/per-boot/pbs-ve-boot.sh';

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

// Runs as root on values from a job: everything is re-validated, and nothing reaches YAML unquoted
// (a VE named "true" or "123" would otherwise become a boolean or a number to cloud-init).
export function buildCloudInitSeed(input: CloudInitSeedInput): CloudInitSeed {
  if (!INSTANCE_ID.test(input.instanceId)) {
    throw new VeError('invalid-seed', 'prereq', `seed instance-id: must be a domain name (got ${JSON.stringify(input.instanceId)})`, { field: 'instance-id' });
  }
  const hostname = validateGuestHostname(input.hostname);
  const sshKeys = validateSshPublicKeys(input.sshKeys);
  const hosts = input.hosts ?? [];
  const bootScript = input.bootScript === undefined ? undefined : validateBootScript(input.bootScript);
  const metaData = `instance-id: ${JSON.stringify(input.instanceId)}\nlocal-hostname: ${JSON.stringify(hostname)}\n`;
  // /etc/hosts as one base64 write_files entry: cloud-init decodes it, and a guest without a YAML parser
  // (the sandbox's tinyvm) finds one line of [A-Za-z0-9+/=] to decode, no escapes to undo
  // the boot script as a per-boot script, not runcmd: runcmd runs once per instance, the LXC init at every start;
  // base64 like /etc/hosts: a guest without a JSON parser (the tinyvm) decodes one line, no escapes to undo
  const files = [
    ...(hosts.length === 0 ? [] : [{ path: '/etc/hosts', permissions: '0644', owner: 'root:root', encoding: 'b64', content: Buffer.from(buildEtcHosts(hostname, hosts)).toString('base64') }]),
    ...(bootScript === undefined ? [] : [{ path: CLOUD_INIT_BOOT_SCRIPT, permissions: '0755', owner: 'root:root', encoding: 'b64', content: Buffer.from(bootScript).toString('base64') }]),
  ];
  const config = {
    hostname,
    ...(sshKeys.length === 0 ? {} : { ssh_authorized_keys: sshKeys }),
    ...(hosts.length === 0 ? {} : { manage_etc_hosts: false }),
    ...(files.length === 0 ? {} : { write_files: files }),
  };
  const networkConfig = buildNetworkConfig(input.nics ?? []);
  return { metaData, userData: `#cloud-config\n${JSON.stringify(config, null, 2)}\n`, ...(networkConfig === undefined ? {} : { networkConfig }) };
}

// cloud-init's network-config v2, NICs matched by MAC (names differ between guests); each NIC on a line of
// its own, so a guest without a YAML parser (the sandbox's tinyvm) reads it with sed. Without any static
// address there is none: cloud-init's own default (DHCP) is left alone.
export function buildNetworkConfig(nics: readonly SeedNic[]): string | undefined {
  if (!nics.some((n) => n.address !== undefined && n.address !== '')) return undefined;
  const lines = nics.map((n, i) => {
    if (!MAC_PATTERN.test(n.mac)) throw new VeError('invalid-seed', 'prereq', `seed nic${i}: MAC must be lower-case aa:bb:cc:dd:ee:ff (got ${JSON.stringify(n.mac)})`, { field: 'mac' });
    const address = n.address ?? '';
    const prefix = parseIpv4Prefix(address);
    if (address !== '' && (prefix === undefined || prefix.length < 8 || prefix.length > 30)) {
      throw new VeError('invalid-seed', 'prereq', `seed nic${i}: a static address must be A.B.C.D/LEN (got ${JSON.stringify(address)})`, { field: 'network' });
    }
    const nic = { match: { macaddress: n.mac }, ...(address === '' ? { dhcp4: true } : { dhcp4: false, addresses: [address] }) };
    return `    ${JSON.stringify(`nic${i}`)}: ${JSON.stringify(nic)}`;
  });
  return `{\n  "version": 2,\n  "ethernets": {\n${lines.join(',\n')}\n  }\n}\n`;
}
