// Domain specs carry user strings into XML that root's libvirtd acts on: refuse anything odd early.
import { VeError } from '../core/ve-error.js';
import type { DomainSpec, QemuDomainOptions, LxcDomainOptions, DomainMetadata, DomainInterface } from './domain-spec.js';

const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const TARGET_DEV = /^(vd|sd|hd)[a-z]{1,2}$/;
const DISK_FORMATS: readonly string[] = ['qcow2', 'raw'];
const DOMAIN_TYPES: readonly string[] = ['lxc', 'qemu', 'kvm'];
/** characters XML 1.0 cannot carry at all, not even as character references */
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/u;
// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\u0000-\u001F\u007F]/;
const MAX_TEXT = 4096;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
/** pbs-ve's own libvirt network names: pbsve-<name> or pbsve-<name>.<owner> */
const NETWORK_NAME = /^pbsve-[a-z][a-z0-9-]{0,30}(?:\.[A-Za-z_][A-Za-z0-9_.-]{0,31})?$/;
/** host-side device names; libvirt reserves vnet*, vif*, macvtap*, macvlan* for its own */
const TARGET_NIC = /^(?!vnet|vif|macv)[a-z][a-z0-9]{1,14}$/;
const MAX_INTERFACES = 16;
/** (uid_t)-1 is "no id" to the kernel: the last usable id is one below */
const MAX_ID = 4_294_967_294;

// Array.isArray would narrow readonly arrays to any[]; the check only needs a yes or no.
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

// Every rule breaks the same way so callers can tell a bad spec from a libvirt failure.
function reject(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-domain-spec', 'prereq', `domain spec ${field}: ${rule} (got ${JSON.stringify(got)})`, {
    field,
  });
}

// Free text (title, description, metadata) may hold anything XML can escape, but not more.
function checkText(field: string, value: unknown, options: { oneLine: boolean; allowEmpty: boolean }): void {
  if (typeof value !== 'string') reject(field, 'must be a string', value);
  if (!options.allowEmpty && value.length === 0) reject(field, 'must not be empty', value);
  if (value.length > MAX_TEXT) reject(field, `must be at most ${MAX_TEXT} characters`, value.slice(0, 40) + '...');
  if (NOT_XML_CHAR.test(value)) reject(field, 'contains characters XML cannot carry', value);
  if (options.oneLine && /[\r\n]/.test(value)) reject(field, 'must be a single line', value);
}

// Host paths end up in root's hands: absolute, no '..' hops, no control characters.
function checkPath(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) reject(field, 'must be a non-empty string', value);
  if (!value.startsWith('/')) reject(field, 'must be an absolute path', value);
  if (value.split('/').includes('..')) reject(field, "must not contain '..'", value);
  if (CONTROL_CHAR.test(value)) reject(field, 'must not contain control characters', value);
  if (value.length > 1024) reject(field, 'must be at most 1024 characters', value.slice(0, 40) + '...');
}

// libvirt and the kernel accept far more, but a VE never needs zero, fractions or absurd sizes.
function checkPositiveInteger(field: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    reject(field, `must be a whole number from 1 to ${max}`, value);
  }
}

// Metadata identifies the job in every later inventory/reconcile step, so it must be present.
function checkMetadata(metadata: DomainMetadata | undefined): void {
  if (typeof metadata !== 'object') reject('metadata', 'must be an object', metadata);
  checkText('metadata.jobId', metadata.jobId, { oneLine: true, allowEmpty: false });
  checkText('metadata.owner', metadata.owner, { oneLine: true, allowEmpty: false });
  checkText('metadata.veName', metadata.veName, { oneLine: true, allowEmpty: false });
}

// The init runs inside the container, its path is the container's, not the host's.
function checkLxc(lxc: LxcDomainOptions | undefined): void {
  if (typeof lxc !== 'object') reject('lxc', 'is required for type lxc', lxc);
  checkPath('lxc.rootfsDir', lxc.rootfsDir);
  if (typeof lxc.idMap !== 'object') reject('lxc.idMap', 'is required: containers run in a user namespace', lxc.idMap);
  checkPositiveInteger('lxc.idMap.count', lxc.idMap.count, MAX_ID);
  // target 0 would map the container's root to the host's root: no namespace at all
  checkPositiveInteger('lxc.idMap.target', lxc.idMap.target, MAX_ID - lxc.idMap.count);
  if (!isList(lxc.init) || lxc.init.length === 0) reject('lxc.init', 'must list the init program and its arguments', lxc.init);
  checkPath('lxc.init[0]', lxc.init[0]);
  lxc.init.forEach((arg, i) => {
    checkText(`lxc.init[${i}]`, arg, { oneLine: false, allowEmpty: true });
  });
}

// Kernel boot pieces only make sense together; disks need distinct, sane device names.
function checkQemu(qemu: QemuDomainOptions | undefined): void {
  if (typeof qemu !== 'object') reject('qemu', 'is required for types qemu and kvm', qemu);
  if (qemu.kernel !== undefined) checkPath('qemu.kernel', qemu.kernel);
  if (qemu.initrd !== undefined) {
    if (qemu.kernel === undefined) reject('qemu.initrd', 'needs qemu.kernel', qemu.initrd);
    checkPath('qemu.initrd', qemu.initrd);
  }
  if (qemu.cmdline !== undefined) {
    if (qemu.kernel === undefined) reject('qemu.cmdline', 'needs qemu.kernel', qemu.cmdline);
    checkText('qemu.cmdline', qemu.cmdline, { oneLine: true, allowEmpty: true });
    if (CONTROL_CHAR.test(qemu.cmdline)) reject('qemu.cmdline', 'must not contain control characters', qemu.cmdline);
  }
  checkPath('qemu.serialLogPath', qemu.serialLogPath);
  if (!isList(qemu.disks)) reject('qemu.disks', 'must be a list', qemu.disks);
  if (qemu.kernel === undefined && qemu.disks.length === 0) reject('qemu.disks', 'needs a disk or qemu.kernel to boot from', qemu.disks);
  const seen = new Set<string>();
  qemu.disks.forEach((disk, i) => {
    checkPath(`qemu.disks[${i}].path`, disk.path);
    if (!DISK_FORMATS.includes(disk.format)) reject(`qemu.disks[${i}].format`, 'must be qcow2 or raw', disk.format);
    if (typeof disk.targetDev !== 'string' || !TARGET_DEV.test(disk.targetDev)) {
      reject(`qemu.disks[${i}].targetDev`, 'must look like vda', disk.targetDev);
    }
    if (disk.readOnly !== undefined && typeof disk.readOnly !== 'boolean') reject(`qemu.disks[${i}].readOnly`, 'must be true or false', disk.readOnly);
    if (seen.has(disk.targetDev)) reject(`qemu.disks[${i}].targetDev`, 'is used twice', disk.targetDev);
    seen.add(disk.targetDev);
  });
}

// NICs name networks root's libvirtd acts on: pbs-ve's own networks only, distinct MACs and devices.
function checkInterfaces(interfaces: readonly DomainInterface[] | undefined): void {
  if (interfaces === undefined) return;
  if (!isList(interfaces) || interfaces.length > MAX_INTERFACES) reject('interfaces', `must be a list of at most ${MAX_INTERFACES}`, interfaces);
  const macs = new Set<string>();
  const devs = new Set<string>();
  interfaces.forEach((nic, i) => {
    if (typeof nic !== 'object') reject(`interfaces[${i}]`, 'must be an object', nic);
    if (typeof nic.network !== 'string' || !NETWORK_NAME.test(nic.network)) reject(`interfaces[${i}].network`, 'must be a pbs-ve network name (pbsve-...)', nic.network);
    if (typeof nic.mac !== 'string' || !MAC.test(nic.mac)) reject(`interfaces[${i}].mac`, 'must be a lower-case MAC address', nic.mac);
    if (typeof nic.targetDev !== 'string' || !TARGET_NIC.test(nic.targetDev)) reject(`interfaces[${i}].targetDev`, 'must be 2-15 lower-case letters or digits (not vnet/vif/macv...)', nic.targetDev);
    if (nic.address !== undefined && (typeof nic.address !== 'string' || !/^\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}$/.test(nic.address))) reject(`interfaces[${i}].address`, 'must be an IPv4 address a.b.c.d/len', nic.address);
    if (nic.mtu !== undefined && (typeof nic.mtu !== 'number' || !Number.isSafeInteger(nic.mtu) || nic.mtu < 576 || nic.mtu > 9000)) reject(`interfaces[${i}].mtu`, 'must be a whole number from 576 to 9000', nic.mtu);
    if (macs.has(nic.mac)) reject(`interfaces[${i}].mac`, 'is used twice', nic.mac);
    if (devs.has(nic.targetDev)) reject(`interfaces[${i}].targetDev`, 'is used twice', nic.targetDev);
    macs.add(nic.mac);
    devs.add(nic.targetDev);
  });
}

// Validates in place of the type system at runtime: specs are built from job attributes.
export function validateDomainSpec(spec: DomainSpec): void {
  if (typeof spec !== 'object') reject('spec', 'must be an object', spec);
  if (typeof spec.name !== 'string' || !DOMAIN_NAME.test(spec.name)) {
    reject('name', 'must be 1-63 of A-Z a-z 0-9 _ . - starting with a letter or digit', spec.name);
  }
  if (!DOMAIN_TYPES.includes(spec.type)) reject('type', 'must be lxc, qemu or kvm', spec.type);
  checkPositiveInteger('vcpus', spec.vcpus, 256);
  checkPositiveInteger('memoryMiB', spec.memoryMiB, 16 * 1024 * 1024);
  if (spec.title !== undefined) checkText('title', spec.title, { oneLine: true, allowEmpty: true });
  if (spec.description !== undefined) checkText('description', spec.description, { oneLine: false, allowEmpty: true });
  checkMetadata(spec.metadata);
  checkInterfaces(spec.interfaces);
  if (spec.type === 'lxc') checkLxc(spec.lxc);
  else checkQemu(spec.qemu);
}
