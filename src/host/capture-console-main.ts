#!/usr/bin/env node
// ve-console-capture PTY LOG UID GID: started in the background by the prologue for LXC VEs (see capture-console.ts).
import { captureConsole } from './capture-console.js';

const MAX_LOG_BYTES = 1024 * 1024;

// Arguments come from the prologue, not from users; still, only a pty and an absolute log path are accepted.
function parseArguments(argv: readonly string[]): { ptyPath: string; logPath: string; uid: number; gid: number } | undefined {
  const [ptyPath, logPath, uid, gid] = argv;
  if (ptyPath === undefined || !/^\/dev\/pts\/[0-9]+$/.test(ptyPath)) return undefined;
  if (logPath === undefined || !logPath.startsWith('/') || logPath.split('/').includes('..')) return undefined;
  if (uid === undefined || gid === undefined || !/^[0-9]+$/.test(uid) || !/^[0-9]+$/.test(gid)) return undefined;
  return { ptyPath, logPath, uid: Number(uid), gid: Number(gid) };
}

const args = parseArguments(process.argv.slice(2));
if (args === undefined) {
  process.stderr.write('usage: capture-console-main.js /dev/pts/N /abs/console.log UID GID\n');
  process.exit(2);
}
try {
  await captureConsole({ ptyPath: args.ptyPath, logPath: args.logPath, owner: { uid: args.uid, gid: args.gid }, maxBytes: MAX_LOG_BYTES });
  process.exit(0);
} catch (err) {
  process.stderr.write(`ve-console-capture: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
