// An LXC container: the image's rootfs mounted at /, its init as the container's PID 1, veth NICs.
import { buildInterfaces, renderDomainXml } from './render-domain-xml.js';
import { validateDomainSpec } from './validate-domain-spec.js';
import type { LxcDomainSpec } from './domain-spec.js';

export const LXC_EMULATOR = '/usr/lib/libvirt/libvirt_lxc';

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
    features: { privnet: '' },
    lifecycle: { onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy' },
    devices: {
      emulator: LXC_EMULATOR,
      filesystem: {
        $: { type: 'mount', accessmode: 'passthrough' },
        source: { $: { dir: spec.lxc.rootfsDir } },
        target: { $: { dir: '/' } },
      },
      ...buildInterfaces(spec.interfaces, undefined),
      console: { $: { type: 'pty' } },
    },
  });
}
