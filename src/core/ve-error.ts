// The single error type of pbs-ve: a stable code for scripts, a kind that decides the exit code.

/** prereq: the request itself is wrong (never retried); exec: an action failed on this host;
 *  environment: a service or host fault that another host or a later try may survive. */
export type VeErrorKind = 'prereq' | 'exec' | 'environment';

export interface VeErrorOptions {
  readonly field?: string;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class VeError extends Error {
  readonly code: string;
  readonly kind: VeErrorKind;
  readonly field: string | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, kind: VeErrorKind, message: string, options: VeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VeError';
    this.code = code;
    this.kind = kind;
    this.field = options.field;
    this.details = options.details ?? {};
  }
}

// Field validation errors all look alike so users learn one shape: "<field>: <rule> (got <value>)".
export function invalidField(field: string, rule: string, got?: unknown): VeError {
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  return new VeError('invalid-field', 'prereq', `${field}: ${rule}${shown}`, { field });
}

// Adapters wrap whatever a library threw so callers only ever see VeError.
export function toVeError(err: unknown, code: string, kind: VeErrorKind, message: string): VeError {
  if (err instanceof VeError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new VeError(code, kind, `${message}: ${reason}`, { cause: err });
}
