// The one in-memory Virt of the unit tests (Ganeti's fake hypervisor): domains in a map, every port method
// real enough for the use-cases; a test overrides only the methods whose answers it scripts.
import { VeError } from '../../src/core/ve-error.js';
import type { DomainEvent, DomainInfo, DomainState, DomainStateReason, Virt } from '../../src/virt/virt.js';

export interface FakeDomain {
  state: DomainState;
  /** libvirt's reason word for the state, as virsh domstate --reason prints it */
  reason: string | undefined;
  persistent: boolean;
  xml: string;
  /** saveDomain was called: the next start restores */
  saved: boolean;
}

export interface FakeVirt extends Virt {
  readonly domains: Map<string, FakeDomain>;
  /** every mutating call, as "verb name" */
  readonly calls: string[];
  /** a state change made behind the port (a guest's poweroff, a crash): the domain changes and the event goes out */
  changeBehind(name: string, state: DomainState, reason: string | undefined, event: string): void;
  /** libvirtd restarts: every event stream ends */
  endEventStreams(): void;
}

const EVENT_OF_ACTION: Readonly<Record<string, string>> = { start: 'Started', destroy: 'Stopped', shutdown: 'Stopped', suspend: 'Suspended', resume: 'Resumed', save: 'Stopped' };

const NAME = /<name>([^<]+)<\/name>/;

function need(domains: Map<string, FakeDomain>, name: string, action: string): FakeDomain {
  const d = domains.get(name);
  if (d === undefined) throw new VeError('virt-failed', 'exec', `libvirt ${action} ${name} failed: no such domain`);
  return d;
}

export function createFakeVirt(overrides: Partial<Virt> = {}, uri = 'test:///fake'): FakeVirt {
  const domains = new Map<string, FakeDomain>();
  const calls: string[] = [];
  const listeners = new Set<{ onEvent: (e: DomainEvent) => void; end: () => void }>();
  const emit = (domain: string, event: string): void => { for (const l of [...listeners]) l.onEvent({ domain, event }); };
  const info = (name: string, d: FakeDomain): DomainInfo => ({ name, state: d.state, persistent: d.persistent });
  const set = (name: string, action: string, state: DomainState, reason: string | undefined): void => {
    calls.push(`${action} ${name}`);
    const d = need(domains, name, action);
    d.state = state;
    d.reason = reason;
    const event = EVENT_OF_ACTION[action];
    if (event !== undefined) emit(name, event);
  };
  const base: FakeVirt = {
    uri, domains, calls,
    changeBehind: (name, state, reason, event) => {
      const d = need(domains, name, 'change');
      d.state = state;
      d.reason = reason;
      emit(name, event);
    },
    endEventStreams: () => { for (const l of [...listeners]) l.end(); },
    watchDomainEvents: (onEvent, onSubscribed, signal) => new Promise<void>((resolve) => {
      const entry = { onEvent, end: () => { listeners.delete(entry); resolve(); } };
      listeners.add(entry);
      signal.addEventListener('abort', entry.end, { once: true });
      onSubscribed();
    }),
    defineDomain: (xml) => {
      const name = NAME.exec(xml)?.[1];
      if (name === undefined) return Promise.reject(new VeError('virt-failed', 'exec', 'libvirt define failed: no <name>'));
      calls.push(`define ${name}`);
      const old = domains.get(name);
      domains.set(name, { state: old?.state ?? 'shutoff', reason: old?.reason ?? 'unknown', persistent: true, xml, saved: false });
      return Promise.resolve();
    },
    startDomain: (name) => {
      const d = need(domains, name, 'start');
      if (d.state === 'running' || d.state === 'paused') return Promise.reject(new VeError('virt-failed', 'exec', `libvirt start ${name} failed: domain is already active`));
      set(name, 'start', 'running', d.saved ? 'restored' : 'booted');
      d.saved = false;
      return Promise.resolve();
    },
    getDomain: (name) => Promise.resolve(domains.has(name) ? info(name, need(domains, name, 'get')) : undefined),
    listDomains: () => Promise.resolve([...domains].map(([n, d]) => info(n, d)).sort((a, b) => a.name.localeCompare(b.name))),
    getStateReason: (name): Promise<DomainStateReason | undefined> => {
      const d = domains.get(name);
      return Promise.resolve(d === undefined ? undefined : { state: d.state, reason: d.reason });
    },
    destroyDomain: (name) => {
      const d = domains.get(name);
      if (d !== undefined && d.state !== 'shutoff') set(name, 'destroy', 'shutoff', 'destroyed');
      if (d !== undefined && !d.persistent) domains.delete(name);
      return Promise.resolve();
    },
    shutdownDomain: (name) => {
      const d = domains.get(name);
      if (d !== undefined && d.state === 'running') set(name, 'shutdown', 'shutoff', 'shutdown');
      return Promise.resolve();
    },
    suspendDomain: (name) => {
      const d = need(domains, name, 'suspend');
      if (d.state !== 'paused') set(name, 'suspend', 'paused', 'user');
      return Promise.resolve();
    },
    resumeDomain: (name) => {
      const d = need(domains, name, 'resume');
      if (d.state === 'paused') set(name, 'resume', 'running', 'unpaused');
      return Promise.resolve();
    },
    saveDomain: (name) => {
      const d = need(domains, name, 'save');
      set(name, 'save', 'shutoff', 'saved');
      d.saved = true;
      return Promise.resolve();
    },
    undefineDomain: (name) => {
      calls.push(`undefine ${name}`);
      domains.delete(name);
      return Promise.resolve();
    },
    getDomainXml: (name) => Promise.resolve(need(domains, name, 'get XML of').xml),
    waitForState: (name, predicate, timeoutMs) => {
      const state = domains.get(name)?.state;
      if (predicate(state)) return Promise.resolve(state);
      return Promise.reject(new VeError('virt-timeout', 'environment', `libvirt ${name}: state condition not met within ${timeoutMs} ms (last state ${state ?? 'absent'})`));
    },
    close: () => Promise.resolve(),
  };
  return Object.assign(base, overrides);
}
