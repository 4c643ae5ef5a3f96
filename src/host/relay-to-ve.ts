import { connect, type Socket } from 'node:net';
import { Transform } from 'node:stream';
import { userInfo } from 'node:os';
import { VeError } from '../core/ve-error.js';
import type { RunCommand } from '../core/run-command.js';
import { IPV4_PATTERN } from '../core/ve-nic.js';
import { readHostVeJobRecord, type VeJobRecord } from '../host/ve-job-record.js';
import type { DhcpLease } from '../host/ve-networks.js';

export interface RelayDeps {
  readonly stateDir: string;
  readonly host: string;
  /** the DHCP leases of a libvirt network, through the host's read-only libvirt socket */
  readonly readLeases: (roUri: string, libvirtName: string) => Promise<readonly DhcpLease[]>;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** who runs the relay (the job's owner, since the batch system started it inside the job) */
  readonly user?: string;
}

// The VE's address on nic0 (the host's default network), as its DHCP lease says: the host reaches it there.
export async function findVeAddress(record: VeJobRecord, deps: Pick<RelayDeps, 'readLeases'>): Promise<string | undefined> {
  const nic = record.nics?.[0];
  const network = record.networks?.[0];
  if (nic === undefined || network === undefined) return undefined;
  const lease = (await deps.readLeases(record.roUri, network.libvirtName)).find((l) => l.mac === nic.mac);
  const ip = lease?.ip ?? nic.ip;
  return ip !== undefined && IPV4_PATTERN.test(ip) ? ip : undefined;
}

// A guest still booting has no lease and no listening port yet: both are waited for, up to the deadline.
export async function connectToVe(jobId: string, port: number, waitMs: number, deps: RelayDeps): Promise<Socket> {
  const record = readHostVeJobRecord(deps.stateDir, jobId, deps.host);
  if (record === undefined) throw new VeError('ve-not-here', 'prereq', `job ${jobId}: no VE of this job on ${deps.host}`, { field: 'job' });
  const user = deps.user ?? userInfo().username;
  // the batch system already let only the owner into the job; this says so plainly if anyone else gets here
  if (user !== 'root' && record.owner !== user) throw new VeError('permission-denied', 'prereq', `job ${jobId}: the VE is ${record.owner}'s, not yours`, { field: 'job' });
  const deadline = deps.now() + waitMs;
  let last = 'no DHCP lease on nic0 yet';
  for (;;) {
    const address = await findVeAddress(record, deps);
    if (address !== undefined) {
      try {
        return await openSocket(address, port);
      } catch (err) {
        last = `${address}:${port}: ${(err as Error).message}`;
      }
    }
    if (deps.now() >= deadline) throw new VeError('ve-unreachable', 'environment', `job ${jobId}: the VE's port ${port} did not answer within ${Math.round(waitMs / 1000)} s (${last})`);
    await deps.sleep(500);
  }
}

function openSocket(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, timeout: 5000 });
    socket.once('connect', () => { socket.setTimeout(0); resolve(socket); });
    socket.once('timeout', () => { socket.destroy(); reject(new Error('connect timed out')); });
    socket.once('error', reject);
  });
}

// stdin/stdout <-> the socket until either side ends: what ssh's ProxyCommand expects of nc. decode undoes the
// client's framing of stdin (TORQUE's terminal, relay-terminal-framing.ts); a broken frame ends the session.
export function pipeStdio(socket: Socket, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, decode?: (chunk: Uint8Array) => Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (decode === undefined) input.pipe(socket);
    else {
      const decoder = new Transform({ transform(chunk: Buffer, _encoding, done) { try { done(null, decode(chunk)); } catch (err) { done(err as Error); } } });
      decoder.once('error', () => { socket.destroy(); });
      input.pipe(decoder).pipe(socket);
    }
    socket.pipe(output);
    socket.once('close', () => { resolve(); });
    input.once('end', () => { socket.end(); });
  });
}

// TORQUE's qsub -I gives the relay a pty that echoes and translates (CR/NL, ^C, ^S, ^V, 8th bit): stty makes it
// a plain 8-bit pipe, on the relay's own stdin, before the relay says it is ready.
export async function setTerminalRaw(run: RunCommand): Promise<void> {
  const args = ['raw', '-echo', '-iexten', '-ixoff', '-ixany', '-parenb', '-istrip', 'cs8', 'min', '1', 'time', '0'];
  const result = await run('stty', args, { inheritStdin: true, timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new VeError('relay-terminal', 'environment', `stty ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr.trim()}`);
}
