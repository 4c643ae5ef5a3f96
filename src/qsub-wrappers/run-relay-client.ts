import { invalidField } from '../core/ve-error.js';
import { startPipedCommand } from '../core/run-command.js';
import { createReadyScanner, dropQsubTrailer, stuffRelayBytes } from '../host/relay-terminal-framing.js';

export interface RelayClientIo {
  /** ssh's bytes (the ProxyCommand's stdin) */
  readonly input: NodeJS.ReadableStream;
  /** to ssh */
  readonly output: NodeJS.WritableStream;
  /** the user's terminal: why no session came, when none came */
  readonly errors: NodeJS.WritableStream;
  /** ssh ends its ProxyCommand with SIGHUP: end is to be called then */
  readonly onHangup: (end: () => void) => void;
}

/**
 * ve ssh's ProxyCommand where the relay's end is a terminal (TORQUE qsub -I): ssh's bytes wait until the relay
 * says its terminal is raw and then go framed; from the other side only what follows that word goes to ssh,
 * less qsub's closing line. Returns the command's exit code (1 when it ended before the relay was ready).
 */
export async function runRelayClient(argv: readonly string[], timeoutMs: number, io: RelayClientIo): Promise<number> {
  const [file, ...args] = argv;
  if (file === undefined || !file.startsWith('/')) throw invalidField('command', 'must start with the absolute path of the batch system\'s command', file ?? '');
  const child = startPipedCommand(file, args, { timeoutMs });
  const scanner = createReadyScanner();
  const held: Buffer[] = [];
  let ready = false;
  let inputEnded = false;
  const endChild = (): void => { child.stdin.end(); };
  // qsub gone (its pipe broken) or ssh gone: the session is over either way, the exit code tells
  child.stdin.on('error', () => undefined);
  io.output.on('error', endChild);
  io.onHangup(endChild);

  const send = (chunk: Buffer): void => {
    if (!child.stdin.write(stuffRelayBytes(chunk))) {
      io.input.pause();
      child.stdin.once('drain', () => io.input.resume());
    }
  };
  io.input.on('data', (chunk: Buffer) => { if (ready) send(chunk); else held.push(Buffer.from(chunk)); });
  io.input.once('end', () => { inputEnded = true; if (ready) endChild(); });
  child.stdout.on('data', (chunk: Buffer) => {
    const bytes = scanner.push(chunk);
    if (bytes === undefined) return;
    if (!ready) {
      ready = true;
      for (const early of held.splice(0)) send(early);
      if (inputEnded) endChild();
    }
    const out = dropQsubTrailer(bytes);
    if (out.length > 0 && !io.output.write(out)) {
      child.stdout.pause();
      io.output.once('drain', () => child.stdout.resume());
    }
  });
  const code = await child.exited;
  if (ready) return code;
  const before = scanner.before().trim();
  io.errors.write(`ve ssh: the relay on the VE's host ended before it was ready${before === '' ? '' : `:\n${before}`}\n`);
  return code === 0 ? 1 : code;
}
