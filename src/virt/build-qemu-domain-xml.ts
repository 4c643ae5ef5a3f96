// A QEMU/KVM virtual machine: direct kernel boot or disk boot, serial console into a file, virtio disks.
import { buildInterfaces, renderDomainXml, type XmlElement } from './render-domain-xml.js';
import { validateDomainSpec } from './validate-domain-spec.js';
import type { QemuDomainSpec, QemuDisk } from './domain-spec.js';

export const QEMU_EMULATOR = '/usr/bin/qemu-system-x86_64';
/** every QEMU VE's machine type; the KVM probe boots the same one */
export const QEMU_MACHINE = 'pc';
/** TCG translation cache per guest; QEMU's default (1 GiB virtual, ~30 MB touched) is wasted on tiny VEs */
const TCG_TB_CACHE_MIB = 16;

// Disks are virtio for speed; cache=none is not set so files on tmpfs (tests) work too.
// A read-only disk (the cloud-init seed, raw) is kept out of snapshots: only qcow2 can hold them.
function buildDisk(disk: QemuDisk): XmlElement {
  return {
    $: { type: 'file', device: 'disk', ...(disk.readOnly === true ? { snapshot: 'no' } : {}) },
    driver: { $: { name: 'qemu', type: disk.format } },
    source: { $: { file: disk.path } },
    target: { $: { dev: disk.targetDev, bus: 'virtio' } },
    ...(disk.readOnly === true ? { readonly: '' } : {}),
  };
}

// The boot source decides the <os> children: kernel/initrd/cmdline, or the first disk.
function buildOs(spec: QemuDomainSpec): XmlElement {
  const { kernel, initrd, cmdline } = spec.qemu;
  return {
    type: { $: { arch: 'x86_64', machine: QEMU_MACHINE }, _: 'hvm' },
    ...(kernel === undefined ? { boot: { $: { dev: 'hd' } } } : { kernel }),
    ...(initrd === undefined ? {} : { initrd }),
    ...(cmdline === undefined ? {} : { cmdline }),
  };
}

// TCG (type qemu) gets a portable CPU model and a small translation cache; kvm passes the host CPU.
export function buildQemuDomainXml(spec: QemuDomainSpec): string {
  validateDomainSpec(spec);
  const tcg = spec.type === 'qemu';
  return renderDomainXml(spec, {
    os: buildOs(spec),
    features: {
      acpi: '',
      ...(tcg ? { tcg: { 'tb-cache': { $: { unit: 'MiB' }, _: String(TCG_TB_CACHE_MIB) } } } : {}),
    },
    cpu: tcg
      ? { $: { mode: 'custom', match: 'exact', check: 'none' }, model: { $: { fallback: 'allow' }, _: 'qemu64' } }
      : { $: { mode: 'host-passthrough', check: 'none' } },
    lifecycle: { onPoweroff: 'destroy', onReboot: 'destroy', onCrash: 'destroy' },
    devices: {
      emulator: QEMU_EMULATOR,
      ...(spec.qemu.disks.length === 0 ? {} : { disk: spec.qemu.disks.map(buildDisk) }),
      controller: { $: { type: 'usb', model: 'none' } },
      ...buildInterfaces(spec.interfaces, 'virtio'),
      serial: {
        $: { type: 'file' },
        // relabel=no: libvirt must not chown the log to the QEMU user; the prologue gives it to the VE owner.
        // append: a start after ve stop, a restart or a recovery continues the log instead of truncating it
        source: { $: { path: spec.qemu.serialLogPath, append: 'on' }, seclabel: { $: { model: 'dac', relabel: 'no' } } },
        target: { $: { port: '0' } },
      },
      memballoon: { $: { model: 'none' } },
      panic: { $: { model: 'isa' } },
    },
  });
}
