// ve ssh on TORQUE: the bytes between ssh and the relay cross qsub -I, whose writer ends the session on "~."
// after a newline: the framing keeps every '~' out, survives any chunking, and the ready word and qsub's lines
// are told from ssh's bytes.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { runRelayClient } from '../../src/qsub-wrappers/run-relay-client.js';
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

void t.test('ve relay-client: ssh\'s bytes wait for the ready word, go stuffed; only the relay\'s bytes come back', async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  const errors = new PassThrough();
  const got: Buffer[] = [];
  output.on('data', (chunk: Buffer) => { got.push(chunk); });
  // a stand-in for qsub -I: its own lines, the relay's word after a pause, then the relay echoing what it gets
  const fake = 'printf "qsub: waiting for job 1.vm to start\\nqsub: job 1.vm ready\\n\\n"; sleep 0.2; printf "pbs-ve relay ready\\n"; cat; printf "\\nqsub: job 1.vm completed\\n"';
  input.end(Buffer.from('SSH-2.0-x\r\n~.\n'));
  const code = await runRelayClient(['/bin/sh', '-c', fake], 20_000, { input, output, errors, onHangup: () => undefined });
  t.equal(code, 0);
  t.equal(Buffer.concat(got).toString(), 'SSH-2.0-x\r\n}^.\n', 'the early bytes held, then sent stuffed; qsub\'s lines left out');

  const failed = new PassThrough();
  const said: Buffer[] = [];
  failed.on('data', (chunk: Buffer) => { said.push(chunk); });
  const none = await runRelayClient(['/bin/sh', '-c', 'printf "qsub: job 2.vm ready\\npbs-ve: error permission-denied\\n"'], 20_000, { input: new PassThrough(), output: new PassThrough(), errors: failed, onHangup: () => undefined });
  t.equal(none, 1, 'no ready word: a failure even when the command exits 0');
  t.match(Buffer.concat(said).toString(), /ended before it was ready:\nqsub: job 2\.vm ready\npbs-ve: error permission-denied/);
  await t.rejects(runRelayClient(['qsub'], 1000, { input, output, errors, onHangup: () => undefined }), { code: 'invalid-field', field: 'command' });
});
