// Every subprocess of pbs-ve goes through here: argument array, no shell, always a timeout.
import { execa } from 'execa';
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
  /** the command reads this process's stdin (stty acting on the relay's terminal); not with input */
  readonly inheritStdin?: boolean;
}

export type RunCommand = (file: string, args: readonly string[], options?: CommandOptions) => Promise<CommandResult>;

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// A non-zero exit is data for the adapter to interpret; only "could not run it at all" throws.
export const runCommand: RunCommand = async (file, args, options = {}) => {
  const timeout = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const result = await execa(file, [...args], {
    timeout,
    reject: false,
    stripFinalNewline: false,
    extendEnv: false,
    env: { PATH: SAFE_PATH, LANG: 'C.UTF-8', ...options.env },
    ...(options.input === undefined ? { stdin: options.inheritStdin === true ? 'inherit' as const : 'ignore' as const } : { input: options.input }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.cancelSignal === undefined ? {} : { cancelSignal: options.cancelSignal }),
  });
  if (result.isCanceled) {
    throw new VeError('command-cancelled', 'environment', `${file} ${args.join(' ')}: cancelled by pbs-ve before it answered`, { details: { file, args } });
  }
  if (result.timedOut) {
    throw new VeError('command-timeout', 'environment', `${file} ${args.join(' ')}: no answer within ${timeout} ms`, {
      details: { file, args },
    });
  }
  // it ran and died of a signal (an abort(), the OOM killer): data like an exit, as a shell reports it
  if (result.exitCode === undefined && result.signal !== undefined) {
    const signo: number = constants.signals[result.signal];
    return { stdout: result.stdout, stderr: result.stderr, exitCode: 128 + signo };
  }
  if (result.failed && result.exitCode === undefined) {
    throw new VeError('command-failed-to-start', 'environment', `${file}: ${result.shortMessage}`, {
      cause: result.cause,
      details: { file, args },
    });
  }
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
};

export interface LineCommandOptions {
  /** a long-lived command is restarted by its caller when this ends it */
  readonly timeoutMs: number;
  readonly cancelSignal: AbortSignal;
}

/**
 * A long-lived command whose stdout is a stream of lines (virsh event --loop): each line to onLine as it
 * comes. Resolves with the exit (stderr included) when the command ends, is cancelled or times out.
 */
export async function runCommandLines(file: string, args: readonly string[], onLine: (line: string) => void, options: LineCommandOptions): Promise<CommandResult> {
  const child = execa(file, [...args], {
    timeout: options.timeoutMs, reject: false, extendEnv: false, env: { PATH: SAFE_PATH, LANG: 'C.UTF-8' }, stdin: 'ignore', cancelSignal: options.cancelSignal,
  });
  for await (const line of child.iterable({ from: 'stdout' })) onLine(line);
  const result = await child;
  return { stdout: '', stderr: result.stderr, exitCode: result.exitCode ?? -1 };
}

/**
 * A command the user talks to (ve ssh): the terminal is its own (stdio inherited) and so is the caller's
 * environment (HOME, SSH_AUTH_SOCK, TERM, the batch system's variables); still an argument array and a timeout.
 * Returns the exit code (128 + signal number for a signal death).
 */
export async function runInteractiveCommand(file: string, args: readonly string[], options: { readonly timeoutMs: number }): Promise<number> {
  const result = await execa(file, [...args], { timeout: options.timeoutMs, reject: false, stdio: 'inherit' });
  if (result.timedOut) throw new VeError('command-timeout', 'environment', `${file}: still running after ${options.timeoutMs} ms; ended`, { details: { file, args } });
  if (result.exitCode === undefined && result.signal !== undefined) return 128 + constants.signals[result.signal];
  if (result.failed && result.exitCode === undefined) throw new VeError('command-failed-to-start', 'environment', `${file}: ${result.shortMessage}`, { cause: result.cause, details: { file, args } });
  return result.exitCode ?? -1;
}

export interface PipedCommand {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** the exit code (128 + signal number for a signal death) */
  readonly exited: Promise<number>;
}

/**
 * A long-lived command whose stdin/stdout the caller relays byte for byte (ve ssh's qsub -I on TORQUE); stderr is
 * the user's, and so is the environment, as with runInteractiveCommand.
 */
export function startPipedCommand(file: string, args: readonly string[], options: { readonly timeoutMs: number }): PipedCommand {
  const child = execa(file, [...args], { timeout: options.timeoutMs, reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', buffer: false, encoding: 'buffer' });
  const exited = child.then((result) => {
    if (result.timedOut) throw new VeError('command-timeout', 'environment', `${file}: still running after ${options.timeoutMs} ms; ended`, { details: { file, args } });
    if (result.exitCode === undefined && result.signal !== undefined) return 128 + constants.signals[result.signal];
    if (result.failed && result.exitCode === undefined) throw new VeError('command-failed-to-start', 'environment', `${file}: ${result.shortMessage}`, { cause: result.cause, details: { file, args } });
    return result.exitCode ?? -1;
  });
  return { stdin: child.stdin, stdout: child.stdout, exited };
}
