// ve ssh on TORQUE: the relay's stdin/stdout are a pty that qsub -I relays. Three things keep ssh's bytes whole:
// the relay makes the pty raw before it says it is ready (the client holds ssh's bytes until then), qsub's own
// lines around the session are dropped, and the client's bytes carry no '~' (qsub's writer reads "~." after a
// newline, NUL or CR as "end the session" and "~<NUL>" as "suspend"): '~' and the escape byte are stuffed.

/** the relay writes this once its terminal is raw and the VE's port answers; nothing before it is ssh's */
export const RELAY_READY_MARKER = 'pbs-ve relay ready\n';

const TILDE = 0x7e;
const ESCAPE = 0x7d; // '}'
const TILDE_CODE = 0x5e; // '}^' stands for '~'
const ESCAPE_CODE = 0x5d; // '}]' stands for '}'

/** qsub's reader prints this when the job's socket closes; it is never ssh's */
const QSUB_TRAILER = /\r?\nqsub: job [A-Za-z0-9_.[\]-]+ completed\r?\n$/;

// Client side, before qsub: no byte of the result is '~'.
export function stuffRelayBytes(chunk: Uint8Array): Buffer {
  let extra = 0;
  for (const byte of chunk) if (byte === TILDE || byte === ESCAPE) extra++;
  if (extra === 0) return Buffer.from(chunk);
  const out = Buffer.alloc(chunk.length + extra);
  let i = 0;
  for (const byte of chunk) {
    if (byte === TILDE) { out[i++] = ESCAPE; out[i++] = TILDE_CODE; } else if (byte === ESCAPE) { out[i++] = ESCAPE; out[i++] = ESCAPE_CODE; } else out[i++] = byte;
  }
  return out;
}

// Relay side: the inverse, across chunk boundaries (an escape byte may end one chunk).
export function createRelayUnstuffer(): (chunk: Uint8Array) => Buffer {
  let pending = false;
  return (chunk) => {
    const out = Buffer.alloc(chunk.length);
    let i = 0;
    for (const byte of chunk) {
      if (pending) {
        pending = false;
        if (byte === TILDE_CODE) out[i++] = TILDE;
        else if (byte === ESCAPE_CODE) out[i++] = ESCAPE;
        else throw new Error(`relay framing: byte 0x${byte.toString(16)} after the escape byte`);
      } else if (byte === ESCAPE) pending = true;
      else out[i++] = byte;
    }
    return out.subarray(0, i);
  };
}

export interface ReadyScanner {
  /** the bytes of this chunk that are ssh's (after the marker), or undefined while the marker has not come */
  push(chunk: Uint8Array): Buffer | undefined;
  /** what came before the marker (qsub's lines, the relay's error), for the user when no marker comes */
  readonly before: () => string;
}

// Client side, qsub's stdout: everything up to the marker is qsub's or the relay's talk, not ssh's.
export function createReadyScanner(limit = 64 * 1024): ReadyScanner {
  let seen = Buffer.alloc(0);
  let ready = false;
  return {
    push(chunk) {
      if (ready) return Buffer.from(chunk);
      seen = Buffer.concat([seen, chunk]);
      const at = seen.indexOf(RELAY_READY_MARKER);
      if (at < 0) {
        if (seen.length > limit) seen = seen.subarray(seen.length - limit);
        return undefined;
      }
      ready = true;
      const rest = seen.subarray(at + RELAY_READY_MARKER.length);
      seen = seen.subarray(0, at);
      return rest;
    },
    before: () => seen.toString('utf8'),
  };
}

// Client side, after the marker: qsub's "job ... completed" line when the session's socket closes is dropped.
export function dropQsubTrailer(chunk: Buffer): Buffer {
  const from = Math.max(0, chunk.length - 256);
  const match = QSUB_TRAILER.exec(chunk.subarray(from).toString('latin1'));
  return match === null ? chunk : chunk.subarray(0, from + match.index);
}
