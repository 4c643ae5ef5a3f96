// Slurm's --json output (openapi v0.0.38 on 22.05) is loosely typed: read it defensively, never trust shapes.
import { VeError } from '../core/ve-error.js';

export type JsonObject = Readonly<Record<string, unknown>>;

/** Slurm's "not set" markers (NO_VAL, INFINITE and their 64-bit forms) as they leak into JSON numbers */
const SLURM_NO_VALUES = new Set([0xfffffffe, 0xffffffff, 0xfffe, 0xffff]);

// Distinguishes a JSON object from arrays and scalars so field reads stay type-safe.
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// A command's JSON dump, or a clear error naming the command when it printed something else.
export function parseSlurmJson(text: string, command: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new VeError('batch-output-unparseable', 'exec', `${command} --json printed no valid JSON`, { cause: err });
  }
  if (!isJsonObject(parsed)) throw new VeError('batch-output-unparseable', 'exec', `${command} --json: not a JSON object`);
  const errors = readSlurmJsonErrors(parsed);
  if (errors.length > 0) {
    throw new VeError('batch-unavailable', 'environment', `${command} --json: ${errors.join('; ')}`, { details: { command } });
  }
  return parsed;
}

// With slurmctld down, squeue/sinfo --json exit 0 with an empty list and only an "errors" entry saying so.
export function readSlurmJsonErrors(dump: JsonObject): string[] {
  const errors = dump['errors'];
  if (!Array.isArray(errors)) return [];
  return errors.filter(isJsonObject).map((e) => {
    const text = [e['source'], e['description'], e['error']].filter((v) => typeof v === 'string' && v !== '');
    return text.length > 0 ? text.join(': ') : 'unspecified error';
  });
}

// The named array of a dump ("jobs", "nodes"), keeping only its object members.
export function readObjectArray(dump: JsonObject, key: string, command: string): JsonObject[] {
  const value = dump[key];
  if (!Array.isArray(value)) throw new VeError('batch-output-unparseable', 'exec', `${command} --json: no "${key}" array`);
  return value.filter(isJsonObject);
}

// A string field; anything else (null, missing, number) reads as ''.
export function readString(obj: JsonObject, key: string): string {
  const value = obj[key];
  return typeof value === 'string' ? value : '';
}

// A finite number field that is really set (Slurm's NO_VAL/INFINITE and null read as undefined).
export function readNumber(obj: JsonObject, key: string): number | undefined {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || SLURM_NO_VALUES.has(value)) return undefined;
  return value;
}

// A list of strings field (state_flags, partitions); other members are dropped.
export function readStringArray(obj: JsonObject, key: string): string[] {
  const value = obj[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
