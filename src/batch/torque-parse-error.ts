import { VeError } from '../core/ve-error.js';

// Callers say what they parsed so the error names the command whose output was garbage.
// (Its own file: the prologue's fast path needs it without loading the XML parser.)
export function torqueParseError(what: string, problem: string, cause?: unknown): VeError {
  return new VeError('torque-parse', 'environment', `${what}: ${problem}`, cause === undefined ? {} : { cause });
}
