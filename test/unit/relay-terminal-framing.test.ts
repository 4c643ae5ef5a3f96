// ve ssh on TORQUE: the bytes between ssh and the relay cross qsub -I, whose writer ends the session on "~."
// after a newline: the framing keeps every '~' out, survives any chunking, and the ready word and qsub's lines
// are told from ssh's bytes.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { RELAY_READY_MARKER, createReadyScanner, createRelayUnstuffer, dropQsubTrailer, stuffRelayBytes } from '../../src/host/relay-terminal-framing.js';

void t.test('stuffing: no "~" on the wire, and the relay gets every byte back whatever the chunks', (t) => {
  const data = Buffer.concat([Buffer.from('\n~.\r~\u0000}}~}^]'), randomBytes(64 * 1024), Buffer.alloc(256, 0x7e), Buffer.alloc(256, 0x7d)]);
  const wire = stuffRelayBytes(data);
  t.equal(wire.indexOf(0x7e), -1, 'no tilde reaches qsub\'s writer');
  for (const size of [1, 2, 3, 7, 4096, wire.length]) {
    const unstuff = createRelayUnstuffer();
    const parts: Buffer[] = [];
    for (let i = 0; i < wire.length; i += size) parts.push(unstuff(wire.subarray(i, i + size)));
    t.ok(Buffer.concat(parts).equals(data), `chunks of ${size}`);
  }
  t.ok(stuffRelayBytes(Buffer.from('plain')).equals(Buffer.from('plain')), 'bytes without ~ or } unchanged');
  t.throws(() => createRelayUnstuffer()(Buffer.from('}x')), /after the escape byte/, 'a broken frame is an error, not silent garbage');
  t.end();
});

void t.test('the ready word: qsub\'s lines and the relay\'s talk before it are not ssh\'s; everything after is', (t) => {
  const scanner = createReadyScanner();
  t.equal(scanner.push(Buffer.from('qsub: waiting for job 7.vm to start\nqsub: job 7.vm ready\n\npbs-ve rel')), undefined);
  const rest = scanner.push(Buffer.from(`ay ready\nSSH-2.0-dropbear\r\n`));
  t.equal(rest?.toString(), 'SSH-2.0-dropbear\r\n', 'the word split over two chunks, the bytes after it kept');
  t.equal(scanner.push(Buffer.from(RELAY_READY_MARKER))?.toString(), RELAY_READY_MARKER, 'once ready, nothing is scanned');
  t.match(scanner.before(), /qsub: job 7\.vm ready/);
  const failed = createReadyScanner(32);
  failed.push(Buffer.from(`${'x'.repeat(100)}ve: job 7.vm: the VE's port 22 did not answer`));
  t.equal(failed.before().length, 32, 'what came before is bounded');
  t.end();
});

void t.test('qsub\'s closing line is dropped from the end of a chunk, ssh\'s bytes never', (t) => {
  const ssh = randomBytes(1000);
  t.ok(dropQsubTrailer(Buffer.concat([ssh, Buffer.from('\nqsub: job 12.vm completed\n')])).equals(ssh));
  t.equal(dropQsubTrailer(Buffer.from('\r\nqsub: job 12.vm completed\r\n')).length, 0);
  const text = Buffer.from('echo "qsub: job 12.vm completed" in the middle\n');
  t.ok(dropQsubTrailer(text).equals(text));
  t.end();
});
