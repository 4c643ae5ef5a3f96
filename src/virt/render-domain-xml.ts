// The parts every domain shares (identity, sizing, pbs-ve metadata), rendered by xml2js, never by hand.
import { loadXml2js } from '../core/load-xml2js.js';
import { VeError } from '../core/ve-error.js';
import { DOMAIN_METADATA_NAMESPACE, DOMAIN_METADATA_PREFIX, type DomainInterface, type DomainSpec } from './domain-spec.js';

/** xml2js builder input: '$' holds attributes, '_' text, arrays repeat an element */
export type XmlElement = Readonly<Record<string, unknown>>;

/** the type-specific part of <domain>, in libvirt's document order */
export interface DomainBody {
  readonly os: XmlElement;
  /** LXC user namespace (<idmap>) */
  readonly idmap?: XmlElement;
  readonly features?: XmlElement;
  readonly cpu?: XmlElement;
  readonly lifecycle: { readonly onPoweroff: string; readonly onReboot: string; readonly onCrash: string };
  readonly devices: XmlElement;
}

// made on first use: loading xml2js is not free (src/core/load-xml2js.ts)
const buildDomainBuilder = (): InstanceType<ReturnType<typeof loadXml2js>['Builder']> => new (loadXml2js().Builder)({
  rootName: 'domain',
  headless: true,
  renderOpts: { pretty: true, indent: '  ', newline: '\n' },
});

// The metadata element is how ve-monitor and the epilogue find the job behind a domain.
function buildMetadata(spec: DomainSpec): XmlElement {
  const p = DOMAIN_METADATA_PREFIX;
  return {
    [`${p}:ve`]: {
      $: { [`xmlns:${p}`]: DOMAIN_METADATA_NAMESPACE },
      [`${p}:jobId`]: spec.metadata.jobId,
      [`${p}:owner`]: spec.metadata.owner,
      [`${p}:veName`]: spec.metadata.veName,
    },
  };
}

// a.b.c.d/len as libvirt's <ip address prefix>; anything else never reaches the XML
function buildInterfaceIp(address: string): XmlElement {
  const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/.exec(address);
  if (m?.[1] === undefined || m[2] === undefined) throw new VeError('invalid-domain-spec', 'prereq', `NIC address ${JSON.stringify(address)} is not a.b.c.d/len`);
  return { $: { address: m[1], prefix: m[2] } };
}

// One <interface> per NIC, MAC and host device fixed by pbs-ve; QEMU guests get virtio NICs. LXC: libvirt
// sets a static address inside the container ('lxc-ip'); QEMU ignores <ip>, its guests read the seed.
export function buildInterfaces(interfaces: readonly DomainInterface[] | undefined, model: 'virtio' | 'lxc-ip'): XmlElement {
  if (interfaces === undefined || interfaces.length === 0) return {};
  return {
    interface: interfaces.map((nic) => ({
      $: { type: 'network' },
      mac: { $: { address: nic.mac } },
      source: { $: { network: nic.network } },
      ...(model === 'lxc-ip' && nic.address !== undefined ? { ip: buildInterfaceIp(nic.address) } : {}),
      target: { $: { dev: nic.targetDev } },
      ...(model === 'virtio' ? { model: { $: { type: model } } } : {}),
      // LXC: both veth ends; QEMU: virtio's host_mtu, which the guest driver takes
      ...(nic.mtu === undefined ? {} : { mtu: { $: { size: String(nic.mtu) } } }),
    })),
  };
}

// Object key order is element order in xml2js, so the document is assembled in libvirt's order.
export function renderDomainXml(spec: DomainSpec, body: DomainBody): string {
  const domain: Record<string, unknown> = {
    $: { type: spec.type },
    name: spec.name,
  };
  if (spec.title !== undefined) domain['title'] = spec.title;
  if (spec.description !== undefined) domain['description'] = spec.description;
  domain['metadata'] = buildMetadata(spec);
  domain['memory'] = { $: { unit: 'MiB' }, _: String(spec.memoryMiB) };
  domain['vcpu'] = String(spec.vcpus);
  domain['os'] = body.os;
  if (body.idmap !== undefined) domain['idmap'] = body.idmap;
  if (body.features !== undefined) domain['features'] = body.features;
  if (body.cpu !== undefined) domain['cpu'] = body.cpu;
  domain['on_poweroff'] = body.lifecycle.onPoweroff;
  domain['on_reboot'] = body.lifecycle.onReboot;
  domain['on_crash'] = body.lifecycle.onCrash;
  domain['devices'] = body.devices;
  return buildDomainBuilder().buildObject(domain) + '\n';
}
