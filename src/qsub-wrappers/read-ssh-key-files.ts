import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { invalidField } from '../core/ve-error.js';
import { MAX_SSH_KEYS, validateSshPublicKey } from '../core/validate-ssh-public-key.js';

/** a public key file is a few hundred bytes; anything much larger is not one */
const MAX_KEY_FILE_BYTES = 16 * 1024;
/** what `ve create` offers a cloud-init image when no --ssh-key is given, in this order */
export const DEFAULT_SSH_KEY_FILES = ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub'];

// Read by the wrapper, as the user: root never opens a path a user named.
function readBoundedText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw invalidField('ssh-key', `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, path);
  }
  try {
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_KEY_FILE_BYTES) throw invalidField('ssh-key', `must be a public key file of at most ${MAX_KEY_FILE_BYTES} bytes`, path);
    return buf.subarray(0, n).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw invalidField('ssh-key', 'must be a file, not a directory', path);
    throw err;
  } finally {
    closeSync(fd);
  }
}

// A .pub file or an authorized_keys-style list: one key per line, blank lines and "#" comments skipped.
export function readSshKeyFile(path: string): string[] {
  const keys = readBoundedText(path).split('\n').map((l) => l.replace(/\r$/, '').trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length === 0) throw invalidField('ssh-key', 'the file holds no public key line', path);
  return keys;
}

// --ssh-key FILE (repeatable): every key of every file, validated later with the rest of the spec.
export function readSshKeyFiles(paths: readonly string[]): string[] {
  return paths.flatMap(readSshKeyFile);
}

// No --ssh-key: the caller's usual public keys, like ssh-copy-id; a key we would refuse is skipped with a word.
export function readDefaultSshKeys(home: string, warn: (line: string) => void): string[] {
  const keys: string[] = [];
  for (const name of DEFAULT_SSH_KEY_FILES) {
    const path = join(home, '.ssh', name);
    if (!existsSync(path)) continue;
    try {
      for (const key of readSshKeyFile(path)) {
        validateSshPublicKey(key);
        const blob = key.split(' ')[1];
        if (keys.length < MAX_SSH_KEYS && !keys.some((k) => k.split(' ')[1] === blob)) keys.push(key);
      }
    } catch (err) {
      warn(`ve create: not using ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return keys;
}
