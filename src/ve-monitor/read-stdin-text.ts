import { VeError } from '../core/ve-error.js';

const MAX_INPUT_BYTES = 16 * 1024 * 1024;

// readFileSync(0) fails with EAGAIN when a shell's heredoc writer has not filled the pipe yet
// (a 200-event vemon job is larger than one pipe buffer): read the stream to its end instead.
export async function readStdinText(stream: AsyncIterable<Buffer | string> = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += buf.length;
    if (size > MAX_INPUT_BYTES) throw new VeError('input-too-large', 'prereq', `standard input: more than ${MAX_INPUT_BYTES} bytes of event lines`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
