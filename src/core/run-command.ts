// Every subprocess of pbs-ve goes through here: argument array, no shell, always a timeout.
// node:child_process, not execa: loading execa took ~230 ms of every pbs-ve process's start (measured,
// docs/benchmarks.md), and a VE's life starts six of them; this file needs only spawn, a timer and a signal.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { VeError } from './ve-error.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface CommandOptions {
  readonly timeoutMs?: number;
  /** added to a minimal environment (PATH only), never the caller's whole environment */
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly cwd?: string;
  /** ends the command early (SIGTERM); the call then throws command-cancelled */
  readonly cancelSignal?: AbortSignal;
}

export type RunCommand = (file: string, args: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** a command that ignores SIGTERM after its timeout or cancel gets SIGKILL this much later */
const FORCE_KILL_AFTER_MS = 5_000;

interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** set only when the program never ran (ENOENT, EACCES) */
  readonly spawnError: Error | undefined;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
}

// One child, its output collected whole; the promise settles once the child is gone and its pipes closed.
function spawnAndCollect(file: string, args: readonly string[], options: CommandOptions, timeout: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(file, [...args], {
      shell: false,
      env: { PATH: SAFE_PATH, LANG: 'C.UTF-8', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    let cancelled = false;
    let spawnError: Error | undefined;
    let forceKill: NodeJS.Timeout | undefined;
    const stop = (): void => {
      child.kill('SIGTERM');
      forceKill ??= setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS);
    };
    const timer = setTimeout(() => { timedOut = true; stop(); }, timeout);
    const onAbort = (): void => { cancelled = true; stop(); };
    if (options.cancelSignal?.aborted === true) onAbort();
    else options.cancelSignal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => { spawnError ??= e; });
    if (child.stdin !== null) {
      // a command that exits without reading its input must not fail the call with EPIPE
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    }
    const ran = child.pid !== undefined;
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (forceKill !== undefined) clearTimeout(forceKill);
      options.cancelSignal?.removeEventListener('abort', onAbort);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code, signal, spawnError: ran ? undefined : spawnError, timedOut, cancelled });
    });
  });
}

// A non-zero exit is data for the adapter to interpret; only "could not run it at all" throws.
export const runCommand: RunCommand = async (file, args, options = {}) => {
  const timeout = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const r = await spawnAndCollect(file, args, options, timeout);
  if (r.cancelled) {
    throw new VeError('command-cancelled', 'environment', `${file} ${args.join(' ')}: cancelled by pbs-ve before it answered`, { details: { file, args } });
  }
  if (r.timedOut) {
    throw new VeError('command-timeout', 'environment', `${file} ${args.join(' ')}: no answer within ${timeout} ms`, {
      details: { file, args },
    });
  }
  if (r.spawnError !== undefined) {
    throw new VeError('command-failed-to-start', 'environment', `${file}: ${r.spawnError.message}`, {
      cause: r.spawnError,
      details: { file, args },
    });
  }
  // it ran and died of a signal (an abort(), the OOM killer): data like an exit, as a shell reports it
  if (r.code === null && r.signal !== null) {
    return { stdout: r.stdout, stderr: r.stderr, exitCode: 128 + constants.signals[r.signal] };
  }
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code ?? -1 };
};
