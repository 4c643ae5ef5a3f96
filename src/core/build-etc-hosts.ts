import { validateGuestHostname, validateHostEntries } from './validate-ve-hosts.js';
import type { VeHostEntry } from './ve-spec.js';

// The guest's whole /etc/hosts: loopback, its own name, then the owner's entries; re-validated because root writes it.
export function buildEtcHosts(hostname: string, entries: readonly VeHostEntry[]): string {
  const name = validateGuestHostname(hostname);
  const lines = ['127.0.0.1 localhost', `127.0.1.1 ${name}`, '::1 localhost ip6-localhost ip6-loopback'];
  for (const e of validateHostEntries(entries)) lines.push(`${e.address} ${e.name}`);
  return `${lines.join('\n')}\n`;
}

// A part of a multi-node VE is "<hostname>-<part>" from part 1 on, as its seed always said.
export function buildGuestHostname(spec: { readonly name: string; readonly hostname?: string }, part: number): string {
  const base = spec.hostname ?? spec.name;
  return part === 0 ? base : `${base}-${String(part)}`;
}
