// Test harness: scratch directories for unit tests, all removed when the test process exits.
import { mkdtempSync, rmSync } from 'node:fs';

const made: string[] = [];

// Unit tests make many scratch dirs in many helpers; one exit hook cleans them, passed or failed.
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(prefix);
  if (made.length === 0) process.on('exit', () => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
  made.push(dir);
  return dir;
}
