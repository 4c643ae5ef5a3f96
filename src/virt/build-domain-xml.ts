// The single entry from a typed DomainSpec to libvirt domain XML; validates before building.
import { buildLxcDomainXml } from './build-lxc-domain-xml.js';
import { buildQemuDomainXml } from './build-qemu-domain-xml.js';
import { VeError } from '../core/ve-error.js';
import type { DomainSpec } from './domain-spec.js';

// Callers do not care which builder applies; an unknown type is a spec error, not a crash.
export function buildDomainXml(spec: DomainSpec): string {
  switch (spec.type) {
    case 'lxc':
      return buildLxcDomainXml(spec);
    case 'qemu':
    case 'kvm':
      return buildQemuDomainXml(spec);
    default:
      throw new VeError('invalid-domain-spec', 'prereq', `domain spec type: must be lxc, qemu or kvm (got ${JSON.stringify((spec as { type: unknown }).type)})`, { field: 'type' });
  }
}
