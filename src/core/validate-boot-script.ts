import { invalidField } from './ve-error.js';

/** the most bytes (UTF-8) one VE's boot script may have: a script that starts services, not a payload */
export const MAX_BOOT_SCRIPT_BYTES = 4096;

// Tab and newline are the only control characters a shell script needs; CR, NUL, ESC ... are refused.
function findControlCharacter(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return i;
  }
  return -1;
}

// The owner's script only ever runs inside the owner's own VE, but root writes it (rootfs, cloud-init seed)
// and it travels in the job script: text only, bounded, no NUL or other control characters, valid UTF-8.
export function validateBootScript(value: unknown, field = 'run'): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidField(field, 'must be a non-empty shell script (text)', typeof value === 'string' ? value : typeof value);
  // a lone UTF-16 surrogate (possible in JSON "\ud800") does not survive UTF-8: it is no text
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.toString('utf8') !== value) throw invalidField(field, 'must be valid UTF-8 text');
  if (bytes.length > MAX_BOOT_SCRIPT_BYTES) throw invalidField(field, `must be at most ${MAX_BOOT_SCRIPT_BYTES} bytes`, `${bytes.length} bytes`);
  const at = findControlCharacter(value);
  if (at >= 0) {
    const line = value.slice(0, at).split('\n').length;
    const code = value.charCodeAt(at).toString(16).padStart(4, '0').toUpperCase();
    throw invalidField(field, `must be text without NUL, carriage returns or other control characters (line ${line} has U+${code})`);
  }
  return value;
}
