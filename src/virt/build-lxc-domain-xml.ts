// An LXC container: the image's rootfs mounted at /, its init as the container's PID 1, veth NICs,
// in its own user namespace with a reduced capability set.
import { buildInterfaces, renderDomainXml, type XmlElement } from './render-domain-xml.js';
import { validateDomainSpec } from './validate-domain-spec.js';
import type { LxcDomainSpec, LxcIdMap } from './domain-spec.js';

export const LXC_EMULATOR = '/usr/lib/libvirt/libvirt_lxc';

/**
 * Capabilities a container never gets, even inside its user namespace: loading modules, raw I/O and
 * device nodes, the host clock and alarms, kernel log and accounting, MAC policy and the audit system.
 * Root inside keeps chown, setuid, fowner and the rest: those act on the namespace's own ids only.
 */
export const LXC_DROPPED_CAPABILITIES: readonly string[] = [
  'sys_module', 'sys_rawio', 'mknod', 'sys_time', 'wake_alarm', 'syslog', 'sys_pacct',
  'mac_admin', 'mac_override', 'audit_control', 'block_suspend',
];

// One range for users and groups: the rootfs copy is shifted by the same offset for both.
function buildIdMap(idMap: LxcIdMap): XmlElement {
  const range = { $: { start: '0', target: String(idMap.target), count: String(idMap.count) } };
  return { uid: range, gid: range };
}

// privnet keeps the container off the host's network namespace (with no NIC it has only lo); destroy on every exit so the
// epilogue, not libvirt, decides what happens after the VE stops.
export function buildLxcDomainXml(spec: LxcDomainSpec): string {
  validateDomainSpec(spec);
  const [init, ...args] = spec.lxc.init;
  return renderDomainXml(spec, {
    os: {
      type: 'exe',
      init,
      ...(args.length === 0 ? {} : { initarg: args }),
    },
    idmap: buildIdMap(spec.lxc.idMap),
    features: {
      privnet: '',
      capabilities: {
        $: { policy: 'default' },
        ...Object.fromEntries(LXC_DROPPED_CAPABILITIES.map((cap) => [cap, { $: { state: 'off' } }])),
      },
    },
    lifecycle: { onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy' },
    devices: {
      emulator: LXC_EMULATOR,
      filesystem: {
        $: { type: 'mount', accessmode: 'passthrough' },
        source: { $: { dir: spec.lxc.rootfsDir } },
        target: { $: { dir: '/' } },
      },
      ...buildInterfaces(spec.interfaces, 'lxc-ip'),
      console: { $: { type: 'pty' } },
    },
  });
}
