import { invalidField } from './ve-error.js';

/** key types a VE owner may hand in (no ssh-dss: OpenSSH refuses it since 7.0) */
export const SSH_KEY_TYPES: readonly string[] = [
  'ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
];
/** more keys than this is a key server, not a VE owner; also bounds the spec token */
export const MAX_SSH_KEYS = 4;
/** an RSA 4096 key with a comment is about 750 characters; RSA 8192 is refused */
export const MAX_SSH_KEY_LENGTH = 1024;
/** the comment: letters, digits and a few punctuation characters, single inner spaces; no quotes, "#", "[]{}" or "\" */
const COMMENT = /^[A-Za-z0-9@._+:,/=-]+(?: [A-Za-z0-9@._+:,/=-]+)*$/;
const MAX_COMMENT = 100;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const RULE = 'must be one OpenSSH public key line "<type> <base64> [comment]" (no options)';

// An SSH wire blob is a sequence of length-prefixed fields; anything else is not a key.
function splitWireFields(blob: Buffer): Buffer[] | undefined {
  const fields: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length || fields.length >= 8) return undefined;
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) return undefined;
    fields.push(blob.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return fields;
}

// The blob must say what the line says: a key of one type labelled as another is a forgery or a mistake.
function checkKeyBlob(field: string, type: string, base64: string): void {
  const blob = Buffer.from(base64, 'base64');
  if (blob.toString('base64') !== base64) throw invalidField(field, `${RULE}: the key is not canonical base64`, base64.slice(0, 24));
  const fields = splitWireFields(blob);
  if (fields === undefined || fields.length < 2) throw invalidField(field, `${RULE}: the base64 part is not an SSH public key`, base64.slice(0, 24));
  const embedded = fields[0]?.toString('latin1');
  if (embedded !== type) throw invalidField(field, `the key says it is ${type} but its data is ${JSON.stringify(embedded)}`, base64.slice(0, 24));
  if (type === 'ssh-ed25519' && (fields.length !== 2 || fields[1]?.length !== 32)) throw invalidField(field, 'an ssh-ed25519 key must hold 32 bytes', base64.slice(0, 24));
  if (type === 'ssh-rsa' && (fields.length !== 3 || (fields[2]?.length ?? 0) < 256)) throw invalidField(field, 'an ssh-rsa key must have a modulus of at least 2048 bits', base64.slice(0, 24));
  if (type.startsWith('ecdsa-sha2-') && fields[1]?.toString('latin1') !== type.slice('ecdsa-sha2-'.length)) {
    throw invalidField(field, `the ${type} key names another curve`, base64.slice(0, 24));
  }
}

/**
 * One OpenSSH public key line, as it will land in the guest's authorized_keys through cloud-init:
 * known type, canonical base64 whose embedded type matches, a comment of safe characters, nothing else
 * (authorized_keys options such as command="..." would let one line change what the key may do).
 */
export function validateSshPublicKey(value: unknown, field = 'ssh-key'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_SSH_KEY_LENGTH) {
    throw invalidField(field, `${RULE} of at most ${MAX_SSH_KEY_LENGTH} characters`, typeof value === 'string' ? value.slice(0, 40) : value);
  }
  const parts = value.split(' ');
  const [type, base64] = parts;
  const comment = parts.slice(2).join(' ');
  if (type === undefined || !SSH_KEY_TYPES.includes(type)) throw invalidField(field, `${RULE}; the type must be one of ${SSH_KEY_TYPES.join(', ')}`, value.slice(0, 40));
  if (base64 === undefined || !BASE64.test(base64)) throw invalidField(field, `${RULE}: the second word must be base64`, value.slice(0, 40));
  if (comment !== '' && (comment.length > MAX_COMMENT || !COMMENT.test(comment))) {
    throw invalidField(field, `the comment must be at most ${MAX_COMMENT} of A-Z a-z 0-9 @ . _ + : , / = - and single inner spaces`, comment.slice(0, 40));
  }
  checkKeyBlob(field, type, base64);
  return value;
}

// The list as a whole: bounded, no duplicates (a duplicate is harmless but always a mistake).
export function validateSshPublicKeys(value: unknown, field = 'ssh-key'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField(field, 'must be a list of OpenSSH public key lines', value);
  if (value.length > MAX_SSH_KEYS) throw invalidField(field, `at most ${MAX_SSH_KEYS} SSH keys`, value.length);
  const keys = value.map((key: unknown) => validateSshPublicKey(key, field));
  const blobs = keys.map((k) => k.split(' ')[1]);
  if (new Set(blobs).size !== blobs.length) throw invalidField(field, 'the same key is given twice', keys.length);
  return keys;
}
