// The Virt port: the libvirt operations pbs-ve needs, against one host's libvirt connection.

export type DomainState = 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended' | 'nostate';

export interface DomainInfo {
  readonly name: string;
  readonly state: DomainState;
  readonly persistent: boolean;
}

export interface Virt {
  /** the connection URI this adapter talks to */
  readonly uri: string;
  defineDomain(xml: string): Promise<void>;
  startDomain(name: string): Promise<void>;
  /** undefined when no such domain exists */
  getDomain(name: string): Promise<DomainInfo | undefined>;
  listDomains(): Promise<DomainInfo[]>;
  /** hard stop; no error when already stopped or absent */
  destroyDomain(name: string): Promise<void>;
  /** ACPI shutdown request; returns at once */
  shutdownDomain(name: string): Promise<void>;
  /** no error when absent */
  undefineDomain(name: string): Promise<void>;
  getDomainXml(name: string): Promise<string>;
  /** libvirt's reason for the current state ("booted", "unpaused", "user", "unknown" ...); undefined when
   *  the domain is absent. "unknown" = libvirtd restarted and does not know (LXC then says "running" even
   *  for a frozen container). Optional: adapters that cannot tell leave it out. */
  getStateReason?(name: string): Promise<string | undefined>;
  /** resolves with the state once predicate holds, or rejects with VeError code virt-timeout */
  waitForState(name: string, predicate: (state: DomainState | undefined) => boolean, timeoutMs: number): Promise<DomainState | undefined>;
  close(): Promise<void>;
}
