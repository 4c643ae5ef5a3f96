// The Virt port over @unraid/libvirt (native libvirt bindings); the binding stays inside this file.
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectListAllDomainsFlags, Hypervisor, type Domain } from '@unraid/libvirt';
import { VeError } from '../core/ve-error.js';
import { mapDomainState } from './map-domain-state.js';
import { classifyLibvirtError, translateLibvirtError } from './translate-libvirt-error.js';
import { runVirsh } from './run-virsh.js';
import { runCommand, runCommandLines } from '../core/run-command.js';
import { applyLxcNicMtus, findLxcInitPid, readInterfaceMtus } from './apply-lxc-nic-mtus.js';
import type { DomainEvent, DomainInfo, DomainState, DomainStateReason, Virt } from './virt.js';

export interface LibvirtVirtOptions {
  /** refuse every change in the adapter itself (the job body's watcher); the URI should also name
   *  the daemon's read-only socket (…/libvirt-sock-ro), which makes libvirtd refuse them too */
  readonly readOnly?: boolean;
  /** waitForState polling interval; default 100 ms */
  readonly pollIntervalMs?: number;
}

const DEFAULT_POLL_MS = 100;
const LXC_INIT_PID_WAIT_MS = 3000;
const INIT_PID_UNKNOWN = /Init process ID is not yet known/;
/** a virsh event stream alive this long has registered with libvirtd (it connects locally in milliseconds) */
const EVENT_SUBSCRIBE_SETTLE_MS = 1000;
/** the stream is started afresh after this, as after a libvirtd restart (the watcher then reads every state again) */
const EVENT_STREAM_MAX_MS = 6 * 3600_000;

/** "event 'lifecycle' for domain 'pbsve-7': Stopped Destroyed" -> pbsve-7, Stopped */
export function parseDomainEventLine(line: string): DomainEvent | undefined {
  const m = /^event '[a-z-]+' for domain '(.+)': ([A-Za-z]+)/.exec(line.trim());
  return m?.[1] === undefined || m[2] === undefined ? undefined : { domain: m[1], event: m[2] };
}


const VIRSH_STATES: Readonly<Record<string, DomainState>> = {
  'running': 'running', 'idle': 'blocked', 'paused': 'paused', 'in shutdown': 'shutdown', 'shut off': 'shutoff', 'crashed': 'crashed', 'pmsuspended': 'pmsuspended', 'no state': 'nostate',
};

/** "shut off (destroyed)" -> shutoff, destroyed: the words virsh domstate --reason prints. */
export function parseStateReason(stdout: string): DomainStateReason | undefined {
  const m = /^([a-z ]+?)(?: \(([a-z ]+)\))?$/.exec(stdout.trim());
  const state = m?.[1] === undefined ? undefined : VIRSH_STATES[m[1]];
  return state === undefined ? undefined : { state, reason: m?.[2] };
}

class LibvirtVirt implements Virt {
  private closed = false;
  private readonly isLxc: boolean;

  constructor(
    readonly uri: string,
    private readonly hypervisor: Hypervisor,
    private readonly readOnly: boolean,
    private readonly pollIntervalMs: number,
  ) {
    this.isLxc = uri.startsWith('lxc:');
  }

  // Every binding call goes through here so no libvirt error escapes untranslated.
  private async call<T>(action: string, op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt ${action}: connection to ${this.uri} already closed`);
    try {
      return await op();
    } catch (err) {
      throw translateLibvirtError(err, this.uri, action);
    }
  }

  // A read-only watcher must never change a VE; refusing here also covers URIs of rw sockets.
  private assertWritable(action: string): void {
    if (this.readOnly) {
      throw new VeError('virt-read-only', 'prereq', `libvirt ${action}: connection to ${this.uri} is read-only`, { details: { uri: this.uri } });
    }
  }

  // Lookup that tells "absent" apart from failure, as the port's contract needs.
  private async lookup(name: string, action: string): Promise<Domain | undefined> {
    if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt ${action}: connection to ${this.uri} already closed`);
    try {
      return await this.hypervisor.domainLookupByName(name);
    } catch (err) {
      if (classifyLibvirtError(err) === 'no-domain') return undefined;
      throw translateLibvirtError(err, this.uri, `${action} ${name}`);
    }
  }

  // State of one domain, undefined when it vanished (between lookup and getInfo too).
  private async readState(name: string, action: string): Promise<{ domain: Domain; state: DomainState } | undefined> {
    const domain = await this.lookup(name, action);
    if (domain === undefined) return undefined;
    try {
      const info = await domain.getInfo();
      return { domain, state: mapDomainState(info.state) };
    } catch (err) {
      if (classifyLibvirtError(err) === 'no-domain') return undefined;
      throw translateLibvirtError(err, this.uri, `${action} ${name}`);
    }
  }

  // The binding has no isPersistent; pbs-ve only defines domains, so the transient list is short.
  private async listTransientNames(): Promise<Set<string>> {
    const transient = await this.call('list transient domains', () =>
      this.hypervisor.connectListAllDomains(ConnectListAllDomainsFlags.TRANSIENT),
    );
    const names = await Promise.all(transient.map((d) => d.getName().catch(() => undefined)));
    return new Set(names.filter((n): n is string => n !== undefined));
  }

  async defineDomain(xml: string): Promise<void> {
    this.assertWritable('define');
    await this.call('define', () => this.hypervisor.domainDefineXML(xml));
  }

  async startDomain(name: string): Promise<void> {
    this.assertWritable(`start ${name}`);
    const domain = await this.lookup(name, 'start');
    if (domain === undefined) throw new VeError('virt-failed', 'exec', `libvirt start ${name} failed: no such domain`, { details: { uri: this.uri } });
    await this.call(`start ${name}`, () => domain.create());
    if (this.isLxc) await this.applyContainerMtus(domain, name);
  }

  // libvirt's LXC driver leaves the container end of a veth at 1500 whatever the <mtu>: set it here, once per
  // start, so every caller (prologue, ve start, rollback, recovery) gets the overlay's MTU in the guest.
  private async applyContainerMtus(domain: Domain, name: string): Promise<void> {
    const nics = readInterfaceMtus(await this.call(`get XML of ${name}`, () => domain.getXMLDesc()));
    if (nics.length === 0) return;
    const controllerPid = await this.call(`get id of ${name}`, () => domain.getID());
    await applyLxcNicMtus(await findLxcInitPid(controllerPid ?? 0, name), nics, runCommand, name);
  }

  async getDomain(name: string): Promise<DomainInfo | undefined> {
    const found = await this.readState(name, 'get');
    if (found === undefined) return undefined;
    const transient = await this.listTransientNames();
    return { name, state: found.state, persistent: !transient.has(name) };
  }

  async listDomains(): Promise<DomainInfo[]> {
    const all = await this.call('list domains', () => this.hypervisor.connectListAllDomains());
    const transient = await this.listTransientNames();
    const infos = await Promise.all(
      all.map(async (domain): Promise<DomainInfo | undefined> => {
        try {
          const [name, info] = await Promise.all([domain.getName(), domain.getInfo()]);
          return { name, state: mapDomainState(info.state), persistent: !transient.has(name) };
        } catch (err) {
          // undefined between listing and reading it: not a failure, just gone
          if (classifyLibvirtError(err) === 'no-domain') return undefined;
          throw translateLibvirtError(err, this.uri, 'list domains');
        }
      }),
    );
    return infos.filter((info): info is DomainInfo => info !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  // The binding has no virDomainGetState; virsh domstate --reason works on the read-only socket too.
  async getStateReason(name: string): Promise<DomainStateReason | undefined> {
    if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt state reason of ${name}: connection to ${this.uri} already closed`);
    const outcome = await runVirsh(this.uri, 'domstate', ['--reason'], [name]);
    if (!outcome.ok) {
      if (classifyLibvirtError(outcome.message) === 'no-domain') return undefined;
      throw translateLibvirtError(new Error(outcome.message), this.uri, `state reason of ${name}`);
    }
    return parseStateReason(outcome.stdout);
  }

  // The binding has no event API: virsh event --loop streams lifecycle events, one line each, until libvirtd goes.
  async watchDomainEvents(onEvent: (event: DomainEvent) => void, onSubscribed: () => void, signal: AbortSignal): Promise<void> {
    if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt events: connection to ${this.uri} already closed`);
    const settled = setTimeout(onSubscribed, EVENT_SUBSCRIBE_SETTLE_MS);
    try {
      const r = await runCommandLines('virsh', ['-q', '-c', this.uri, 'event', '--event', 'lifecycle', '--loop'], (line) => {
        const event = parseDomainEventLine(line);
        if (event !== undefined) onEvent(event);
      }, { timeoutMs: EVENT_STREAM_MAX_MS, cancelSignal: signal });
      if (r.exitCode !== 0 && !signal.aborted) throw translateLibvirtError(new Error(r.stderr.replace(/^error: /gm, '').trim() || `virsh event exited ${r.exitCode}`), this.uri, 'watch events');
    } finally {
      clearTimeout(settled);
    }
  }

  async destroyDomain(name: string): Promise<void> {
    this.assertWritable(`destroy ${name}`);
    await this.stopQuietly(name, 'destroy', (domain) => domain.destroy());
  }

  async shutdownDomain(name: string): Promise<void> {
    this.assertWritable(`shutdown ${name}`);
    if (!this.isLxc) {
      await this.stopQuietly(name, 'shutdown', (domain) => domain.shutdown());
      return;
    }
    // libvirt 9.0's LXC shutdown without flags reports success but never signals an init that has
    // no initctl pipe (busybox sh); only --mode signal (SIGTERM to init) works, and the binding has
    // no virDomainShutdownFlags. Right after start the init pid may not be known yet: retry briefly.
    const deadline = Date.now() + LXC_INIT_PID_WAIT_MS;
    for (;;) {
      if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt shutdown ${name}: connection to ${this.uri} already closed`);
      const outcome = await runVirsh(this.uri, 'shutdown', ['--mode', 'signal'], [name]);
      if (outcome.ok) return;
      const kind = classifyLibvirtError(outcome.message);
      if (kind === 'no-domain' || kind === 'not-running') return;
      if (!INIT_PID_UNKNOWN.test(outcome.message) || Date.now() >= deadline) {
        throw translateLibvirtError(new Error(outcome.message), this.uri, `shutdown ${name}`);
      }
      await sleep(50);
    }
  }

  async suspendDomain(name: string): Promise<void> {
    this.assertWritable(`suspend ${name}`);
    const found = await this.readState(name, 'suspend');
    if (found === undefined) throw new VeError('virt-failed', 'exec', `libvirt suspend ${name} failed: no such domain`, { details: { uri: this.uri } });
    if (found.state === 'paused') return;
    await this.call(`suspend ${name}`, () => this.hypervisor.domainSuspend(found.domain));
  }

  async resumeDomain(name: string): Promise<void> {
    this.assertWritable(`resume ${name}`);
    const found = await this.readState(name, 'resume');
    if (found === undefined) throw new VeError('virt-failed', 'exec', `libvirt resume ${name} failed: no such domain`, { details: { uri: this.uri } });
    if (found.state !== 'paused') return;
    await this.call(`resume ${name}`, () => this.hypervisor.domainResume(found.domain));
  }

  // The binding has no virDomainManagedSave: virsh does it, on this adapter's URI.
  async saveDomain(name: string): Promise<void> {
    this.assertWritable(`save ${name}`);
    if (this.isLxc) throw new VeError('virt-unsupported', 'prereq', `libvirt save ${name}: LXC containers cannot be saved to disk (suspend keeps them in memory)`, { field: 'toDisk' });
    await this.runVirshAction('managedsave', [], name);
  }

  private async runVirshAction(command: string, flags: readonly string[], name: string): Promise<void> {
    if (this.closed) throw new VeError('virt-closed', 'exec', `libvirt ${command} ${name}: connection to ${this.uri} already closed`);
    const outcome = await runVirsh(this.uri, command, flags, [name]);
    if (!outcome.ok) throw translateLibvirtError(new Error(outcome.message), this.uri, `${command} ${name}`);
  }

  // Stopping what is absent or already stopped has reached its goal: the port says no error.
  private async stopQuietly(name: string, action: string, op: (domain: Domain) => Promise<void>): Promise<void> {
    const domain = await this.lookup(name, action);
    if (domain === undefined) return;
    try {
      await op(domain);
    } catch (err) {
      const kind = classifyLibvirtError(err);
      if (kind === 'no-domain' || kind === 'not-running') return;
      throw translateLibvirtError(err, this.uri, `${action} ${name}`);
    }
  }

  async undefineDomain(name: string): Promise<void> {
    this.assertWritable(`undefine ${name}`);
    const domain = await this.lookup(name, 'undefine');
    if (domain === undefined) return;
    try {
      await domain.undefine();
    } catch (err) {
      if (classifyLibvirtError(err) === 'no-domain') return;
      // a domain suspended to disk (ve suspend --to-disk) keeps a managed save image libvirt will not orphan
      if (!/managed save/i.test((err as Error).message)) throw translateLibvirtError(err, this.uri, `undefine ${name}`);
      await this.runVirshAction('undefine', ['--managed-save'], name);
    }
  }

  async getDomainXml(name: string): Promise<string> {
    const domain = await this.lookup(name, 'get XML of');
    if (domain === undefined) throw new VeError('virt-failed', 'exec', `libvirt get XML of ${name} failed: no such domain`, { details: { uri: this.uri } });
    return this.call(`get XML of ${name}`, () => domain.getXMLDesc());
  }

  async waitForState(
    name: string,
    predicate: (state: DomainState | undefined) => boolean,
    timeoutMs: number,
  ): Promise<DomainState | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: DomainState | undefined;
    for (;;) {
      last = (await this.readState(name, 'watch'))?.state;
      if (predicate(last)) return last;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new VeError('virt-timeout', 'environment', `libvirt ${name}: state condition not met within ${timeoutMs} ms (last state ${last ?? 'absent'})`, {
          details: { uri: this.uri, domain: name, lastState: last ?? null },
        });
      }
      await sleep(Math.min(this.pollIntervalMs, left));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.hypervisor.connectClose();
    } catch {
      // closing a connection whose daemon is gone has nothing left to release
    }
  }
}

// Opening eagerly makes a dead or missing daemon fail here, as virt-unavailable, not on first use.
export async function openLibvirtVirt(uri: string, options: LibvirtVirtOptions = {}): Promise<Virt> {
  let hypervisor: Hypervisor;
  try {
    hypervisor = new Hypervisor({ uri });
    await hypervisor.connectOpen();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new VeError('virt-unavailable', 'environment', `libvirt at ${uri} unavailable: ${message}`, {
      cause: err,
      details: { uri, libvirtMessage: message },
    });
  }
  return new LibvirtVirt(uri, hypervisor, options.readOnly ?? false, options.pollIntervalMs ?? DEFAULT_POLL_MS);
}
