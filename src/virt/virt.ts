// The Virt port: the libvirt operations pbs-ve needs, against one host's libvirt connection.

export type DomainState = 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended' | 'nostate';

export interface DomainInfo {
  readonly name: string;
  readonly state: DomainState;
  readonly persistent: boolean;
}

export interface DomainStateReason {
  readonly state: DomainState;
  /** undefined when libvirt gives none */
  readonly reason: string | undefined;
}

/** a libvirt domain lifecycle event: the domain's name and libvirt's word for it (Started, Stopped, Suspended, ...) */
export interface DomainEvent {
  readonly domain: string;
  readonly event: string;
}

export interface Virt {
  /** the connection URI this adapter talks to */
  readonly uri: string;
  defineDomain(xml: string): Promise<void>;
  startDomain(name: string): Promise<void>;
  /** undefined when no such domain exists */
  getDomain(name: string): Promise<DomainInfo | undefined>;
  listDomains(): Promise<DomainInfo[]>;
  /**
   * The domain's state with libvirt's reason for it, read together (a domain restarted between two reads
   * would pair "shutoff" with "booted"); reasons as virsh words them (shut off: "shutdown" = the guest
   * powered off, "destroyed", "crashed", "failed"); undefined when absent. Reason "unknown" = libvirtd
   * restarted and does not know (LXC then says "running" even for a frozen container).
   */
  getStateReason(name: string): Promise<DomainStateReason | undefined>;
  /** hard stop; no error when already stopped or absent */
  destroyDomain(name: string): Promise<void>;
  /** ACPI shutdown request; returns at once */
  shutdownDomain(name: string): Promise<void>;
  /** pause a running domain (LXC: freeze its cgroup); no error when already paused */
  suspendDomain(name: string): Promise<void>;
  /** continue a paused domain; no error when already running */
  resumeDomain(name: string): Promise<void>;
  /** save the memory to libvirt's managed save image and stop (QEMU); the next startDomain restores it */
  saveDomain(name: string): Promise<void>;
  /** no error when absent */
  undefineDomain(name: string): Promise<void>;
  getDomainXml(name: string): Promise<string>;
  /** resolves with the state once predicate holds, or rejects with VeError code virt-timeout */
  waitForState(name: string, predicate: (state: DomainState | undefined) => boolean, timeoutMs: number): Promise<DomainState | undefined>;
  /**
   * Lifecycle events of every domain of this connection, to onEvent as they come, until the connection ends
   * (libvirtd gone: resolves) or signal aborts. A caller that must not miss a change reads the state again
   * once this is under way (onSubscribed) and after it ends.
   */
  watchDomainEvents(onEvent: (event: DomainEvent) => void, onSubscribed: () => void, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
