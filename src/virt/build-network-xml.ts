// A libvirt network pbs-ve defines for VEs, rendered by xml2js from typed values.
import { loadXml2js } from '../core/load-xml2js.js';
import { VeError } from '../core/ve-error.js';
import { INTERFACE_NAME_PATTERN } from '../config/network-config.js';
import { describeSubnet, type HostNetworkPlan } from '../prologue/plan-ve-networks.js';

// made on first use: loading xml2js is not free (src/core/load-xml2js.ts)
const buildNetworkBuilder = (): InstanceType<ReturnType<typeof loadXml2js>['Builder']> => new (loadXml2js().Builder)({ rootName: 'network', headless: true, renderOpts: { pretty: true, indent: '  ', newline: '\n' } });
/** pbs-ve's libvirt network names: pbsve-<name> or pbsve-<name>.<owner> */
export const LIBVIRT_NETWORK_NAME = /^pbsve-[a-z][a-z0-9-]{0,30}(?:\.[A-Za-z_][A-Za-z0-9_.-]{0,31})?$/;

// Managed: an isolated bridge (no <forward>: libvirt rejects routing off it) with DHCP on the subnet;
// unmanaged: libvirt only plugs VEs into the admin's existing bridge.
export function buildNetworkXml(plan: HostNetworkPlan, subnet: string | undefined): string {
  if (!LIBVIRT_NETWORK_NAME.test(plan.libvirtName)) throw new VeError('invalid-network', 'prereq', `network ${JSON.stringify(plan.libvirtName)}: not a pbs-ve network name`);
  if (!INTERFACE_NAME_PATTERN.test(plan.bridge)) throw new VeError('invalid-network', 'prereq', `network ${plan.libvirtName}: bridge ${JSON.stringify(plan.bridge)} is not an interface name`);
  if (!plan.managed) {
    return buildNetworkBuilder().buildObject({ name: plan.libvirtName, forward: { $: { mode: 'bridge' } }, bridge: { $: { name: plan.bridge } } }) + '\n';
  }
  const ip = subnet === undefined ? undefined : describeSubnet(subnet);
  if (subnet !== undefined && ip === undefined) throw new VeError('invalid-network', 'prereq', `network ${plan.libvirtName}: subnet ${JSON.stringify(subnet)} is not an IPv4 /8../29`);
  if (plan.overlay !== undefined && subnet !== undefined) throw new VeError('invalid-network', 'prereq', `network ${plan.libvirtName}: an overlay network has no host address or DHCP`);
  // overlay: the bridge carries no host address, and its MTU leaves room for the VXLAN header
  return buildNetworkBuilder().buildObject({
    name: plan.libvirtName,
    bridge: { $: { name: plan.bridge, stp: 'off', delay: '0' } },
    ...(plan.overlay === undefined ? {} : { mtu: { $: { size: String(plan.overlay.mtu) } } }),
    ...(ip === undefined ? {} : {
      ip: { $: { address: ip.gateway, netmask: ip.netmask }, dhcp: { range: { $: { start: ip.first, end: ip.last } } } },
    }),
  }) + '\n';
}
