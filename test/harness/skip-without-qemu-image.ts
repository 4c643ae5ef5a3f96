// QEMU tests need the sandbox's tinyvm image, which cannot be built on every machine (no kernel package,
// no busybox-static): such a test says why it did not run instead of failing or passing silently.
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';

interface PlannableTest {
  comment(line: string): void;
  plan(n: number, reason: string): void;
}

export function skipWithoutQemuImage(t: PlannableTest, info: Pick<SandboxInfo, 'images' | 'imageProblem'>): boolean {
  if (info.images.includes('tinyvm')) return false;
  const reason = `skipped: no QEMU image in the sandbox catalog: ${info.imageProblem ?? 'unknown reason'}`;
  t.comment(reason);
  t.plan(0, reason);
  return true;
}
