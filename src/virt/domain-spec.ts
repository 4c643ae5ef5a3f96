// What pbs-ve asks libvirt to run, typed, before it becomes domain XML (see buildDomainXml).

export type DomainType = 'lxc' | 'qemu' | 'kvm';

/** XML namespace of the <metadata> child that ties a domain to its batch job */
export const DOMAIN_METADATA_NAMESPACE = 'urn:pbs-ve:domain:1';
/** the element prefix used for that namespace in generated XML */
export const DOMAIN_METADATA_PREFIX = 'pbsve';

export interface DomainMetadata {
  readonly jobId: string;
  readonly owner: string;
  readonly veName: string;
}

/** a user namespace: the container's ids 0..count-1 are the host's target..target+count-1 (uids and gids alike) */
export interface LxcIdMap {
  /** the host id the container's root is; never 0 */
  readonly target: number;
  readonly count: number;
}

export interface LxcDomainOptions {
  /** absolute host path mounted as the container's /, owned by the mapped ids (idMap) */
  readonly rootfsDir: string;
  /** every pbs-ve container runs in its own user namespace: its root is an unprivileged id on the host */
  readonly idMap: LxcIdMap;
  /** init program (absolute path inside the container) followed by its arguments */
  readonly init: readonly string[];
}

export type DiskFormat = 'qcow2' | 'raw';

export interface QemuDisk {
  readonly path: string;
  readonly format: DiskFormat;
  /** guest device name, e.g. vda */
  readonly targetDev: string;
  /** true: the guest cannot write it, and snapshots leave it out (a cloud-init seed) */
  readonly readOnly?: boolean;
}

export interface QemuDomainOptions {
  /** direct kernel boot; without it the guest boots from its first disk */
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly disks: readonly QemuDisk[];
  /** host file receiving the guest's first serial port */
  readonly serialLogPath: string;
}

/** one NIC: a port on a libvirt network (LXC: a veth pair, QEMU: a virtio tap) */
export interface DomainInterface {
  /** the libvirt network's name on this host */
  readonly network: string;
  readonly mac: string;
  /** host-side device name (at most 15 characters), so it is known and unique before start */
  readonly targetDev: string;
  /** a static IPv4 address a.b.c.d/len: LXC sets it on the container's NIC; QEMU guests get it from the cloud-init seed */
  readonly address?: string;
  /** the NIC's MTU on both ends (an overlay network's, below the underlay's); absent = libvirt's default */
  readonly mtu?: number;
}

interface DomainSpecCommon {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** one line (libvirt refuses newlines in titles) */
  readonly title?: string;
  readonly description?: string;
  readonly metadata: DomainMetadata;
  /** network interfaces in guest order (eth0, eth1, ...); absent or empty = none */
  readonly interfaces?: readonly DomainInterface[];
}

export interface LxcDomainSpec extends DomainSpecCommon {
  readonly type: 'lxc';
  readonly lxc: LxcDomainOptions;
}

export interface QemuDomainSpec extends DomainSpecCommon {
  readonly type: 'qemu' | 'kvm';
  readonly qemu: QemuDomainOptions;
}

export type DomainSpec = LxcDomainSpec | QemuDomainSpec;
