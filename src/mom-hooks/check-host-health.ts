// The health hook's use-case: can this host realize VEs right now? Every check bounded, all run at once.
import type { DomainState, Virt } from '../virt/virt.js';

export interface HealthFloors {
  readonly minDiskMiB: number;
  readonly minMemoryMiB: number;
}

export interface HealthCheckPorts {
  openVirt(uri: string): Promise<Virt>;
  isDirectory(path: string): Promise<boolean>;
  freeDiskMiB(path: string): Promise<number>;
  availableMemoryMiB(): Promise<number>;
}

export interface HealthCheckRequest {
  /** every libvirt URI this host's VEs use (config.virt.hosts[host]: lxcUri, qemuUri); empty on hosts
   *  that run no VEs (a Slurm vemon node shares the cluster-wide HealthCheckProgram) */
  readonly uris: readonly string[];
  /** undefined on hosts that run no VEs: no image store to check */
  readonly imageDir: string | undefined;
  readonly stateDir: string;
  readonly floors: HealthFloors;
  /** each check on its own; a check past this is a problem, not a hang */
  readonly checkTimeoutMs: number;
}

export interface VeDomainReport {
  readonly uri: string;
  readonly name: string;
  readonly state: DomainState;
}

export interface HostHealth {
  readonly healthy: boolean;
  /** one short reason per failed check, in check order */
  readonly problems: readonly string[];
  /** what the passing checks measured, for the OK line */
  readonly facts: readonly string[];
  /** pbs-ve's domains (pbsve-*) as libvirt sees them, over every URI */
  readonly domains: readonly VeDomainReport[];
  /** checks that never answered: their threads may still be blocked (libvirt connect, statfs on a hung mount) */
  readonly unanswered: number;
}

/** domains pbs-ve creates are named pbsve-<jobId> (see buildDomainName) */
export const VE_DOMAIN_PREFIX = 'pbsve-';

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string; readonly timedOut?: true };

// A check that never answers must cost at most its own timeout; it keeps running unobserved afterwards.
export async function settleWithin<T>(work: () => Promise<T>, timeoutMs: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => { resolve({ ok: false, reason: `no answer within ${timeoutMs} ms`, timedOut: true }); }, timeoutMs);
  });
  const attempt = (async (): Promise<Outcome<T>> => {
    try {
      return { ok: true, value: await work() };
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
  })();
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Opening and listing is the round trip the prologue needs; the connection is closed even when late.
async function listVeDomains(ports: HealthCheckPorts, uri: string): Promise<VeDomainReport[]> {
  const virt = await ports.openVirt(uri);
  try {
    const all = await virt.listDomains();
    return all.filter((d) => d.name.startsWith(VE_DOMAIN_PREFIX)).map((d) => ({ uri, name: d.name, state: d.state }));
  } finally {
    await virt.close().catch(() => undefined);
  }
}

/** Runs all checks concurrently; never throws: a failing or hanging check becomes a problem line. */
export async function checkHostHealth(request: HealthCheckRequest, ports: HealthCheckPorts): Promise<HostHealth> {
  const limit = request.checkTimeoutMs;
  const uris = [...new Set(request.uris)];
  const [virts, images, disk, memory] = await Promise.all([
    Promise.all(uris.map((uri) => settleWithin(() => listVeDomains(ports, uri), limit))),
    settleWithin(async () => (request.imageDir === undefined ? true : ports.isDirectory(request.imageDir)), limit),
    settleWithin(() => ports.freeDiskMiB(request.stateDir), limit),
    settleWithin(() => ports.availableMemoryMiB(), limit),
  ]);
  const problems: string[] = [];
  const facts: string[] = [];
  const domains: VeDomainReport[] = [];
  virts.forEach((v, i) => {
    if (v.ok) domains.push(...v.value);
    else problems.push(`libvirtd not answering on ${uris[i] ?? '?'}: ${v.reason}`);
  });
  if (uris.length === 0) facts.push('no VE host (no virt.hosts entry)');
  if (uris.length > 0 && virts.every((v) => v.ok)) facts.push(`libvirtd answers on ${uris.length} URI${uris.length === 1 ? '' : 's'}`);
  const store = request.imageDir ?? '';
  if (!images.ok) problems.push(`image store ${store} not checkable: ${images.reason}`);
  else if (!images.value) problems.push(`image store ${store} missing`);
  else if (request.imageDir !== undefined) facts.push(`image store ${store} present`);
  if (!disk.ok) problems.push(`free disk on ${request.stateDir} not checkable: ${disk.reason}`);
  else if (disk.value < request.floors.minDiskMiB) problems.push(`free disk on ${request.stateDir} ${disk.value} MiB below ${request.floors.minDiskMiB} MiB`);
  else facts.push(`${disk.value} MiB disk free`);
  if (!memory.ok) problems.push(`available memory not checkable: ${memory.reason}`);
  else if (memory.value < request.floors.minMemoryMiB) problems.push(`available memory ${memory.value} MiB below ${request.floors.minMemoryMiB} MiB`);
  else facts.push(`${memory.value} MiB memory available`);
  const unanswered = [...virts, images, disk, memory].filter((o) => !o.ok && o.timedOut === true).length;
  return { healthy: problems.length === 0, problems, facts, domains, unanswered };
}

/** TORQUE's MOM reads ~1 KiB and only checks that the output starts with ERROR: one line, reasons joined. */
export const MAX_ERROR_LINE = 900;

// The first line is what TORQUE and the Slurm drain reason see; the VE report follows only when asked.
export function formatHostHealth(health: HostHealth, options: { readonly host: string; readonly report: boolean }): string {
  const first = health.healthy
    ? `OK ${options.host}: ${health.facts.join(', ')}`
    : `ERROR ${health.problems.join('; ')}`.replace(/[\r\n]+/g, ' ').slice(0, MAX_ERROR_LINE);
  const lines = [first];
  if (options.report) {
    for (const d of health.domains) lines.push(`VE ${d.name} ${d.state} ${d.uri.split(':', 1)[0] ?? ''}`);
    lines.push(`VES ${health.domains.length}`);
  }
  return `${lines.join('\n')}\n`;
}
