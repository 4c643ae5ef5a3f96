// `ve create NAME --count N`: the N names NAME-1 .. NAME-N, each a VE name by the same rule as one typed.
import { invalidField } from './ve-error.js';
import { validateVeName } from './validate-ve-spec.js';

/** the most VEs one `ve create --count` makes: a boot storm, not a denial of service on the batch system */
export const MAX_VE_COUNT = 1024;
const MAX_VE_NAME_LENGTH = 63;

// --count as typed: a whole number from 1 to MAX_VE_COUNT, plain decimal (no 1e3, 0x10, +5 or 007).
export function parseVeCount(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > MAX_VE_COUNT) {
    throw invalidField('count', `must be a whole number from 1 to ${MAX_VE_COUNT}`, value);
  }
  return Number(text);
}

// The suffixed names must be VE names too: the longest one decides, and the error says which option to shorten.
export function expandVeNames(name: unknown, count: number): string[] {
  const base = validateVeName(name);
  const longest = `${base}-${count}`;
  if (longest.length > MAX_VE_NAME_LENGTH) {
    throw invalidField('name', `with --count ${count} the names run to "${longest}" (${longest.length} characters), and a VE name is at most ${MAX_VE_NAME_LENGTH}; shorten the name or lower --count`, base);
  }
  return Array.from({ length: count }, (_, i) => validateVeName(`${base}-${i + 1}`));
}
