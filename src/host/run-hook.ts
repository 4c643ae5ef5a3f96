import { VeError } from '../core/ve-error.js';
import { decideExitCode, type ExitContext } from '../core/decide-exit-code.js';

// Every entry point ends here: one error format, exit code from decideExitCode, never a stack for users.
export async function runHook(context: ExitContext, body: () => Promise<number | undefined>, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<never> {
  let code: number;
  try {
    code = (await body()) ?? 0;
  } catch (err) {
    const message = err instanceof VeError ? `pbs-ve: error ${err.code}: ${err.message}` : `pbs-ve: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    log(message);
    code = decideExitCode(err, context);
  }
  process.exit(code);
}
