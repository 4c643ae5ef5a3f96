// Checks shared by the entry encoders: what LDAP syntaxes would reject, we reject first with a field name.
import { invalidField } from '../core/ve-error.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Counters and sizes are INTEGER attributes: whole, non-negative and exact in a JS number.
export function validateCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidField(field, 'must be a whole number >= 0', value);
  }
  return value;
}

// DirectoryString values must be non-empty valid UTF-8 without NUL; a lone surrogate would not encode.
export function validateText(field: string, value: unknown, options: { optional?: boolean } = {}): string {
  if (typeof value !== 'string') throw invalidField(field, 'must be a string', value);
  if (value === '' && options.optional === true) return value;
  if (value === '' || value.includes('\u0000') || LONE_SURROGATE.test(value) || value.length > 4096) {
    throw invalidField(field, 'must be non-empty text without NUL (at most 4096 characters)', value);
  }
  return value;
}

// IA5String values (host names, states, ids) must be printable ASCII.
export function validateAscii(field: string, value: unknown, options: { optional?: boolean } = {}): string {
  if (typeof value !== 'string') throw invalidField(field, 'must be a string', value);
  if (value === '' && options.optional === true) return value;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw invalidField(field, 'must be 1-255 printable ASCII characters without spaces', value);
  }
  return value;
}
