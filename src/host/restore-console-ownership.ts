// virtlogd rotates a QEMU console log at 2 MiB and creates the new file as root 0600: give it back.
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { UserIds } from './find-user-ids.js';

const CONSOLE_FILE = /^console\.log(\.[0-9]{1,3})?$/;

// The periodic host hook calls this per local VE: after a rotation the owner can read the console again.
export async function restoreConsoleOwnership(jobDir: string, owner: UserIds): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(jobDir);
  } catch {
    return [];
  }
  const fixed: string[] = [];
  for (const name of names.filter((n) => CONSOLE_FILE.test(n))) {
    const path = join(jobDir, name);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() !== true || (st.uid === owner.uid && st.gid === owner.gid && (st.mode & 0o777) === 0o600)) continue;
    // O_NOFOLLOW + fchown: a link swapped in after the lstat is refused, never followed
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
    if (handle === undefined) continue;
    try {
      if (!(await handle.stat()).isFile()) continue;
      await handle.chown(owner.uid, owner.gid);
      await handle.chmod(0o600);
      fixed.push(name);
    } finally {
      await handle.close();
    }
  }
  return fixed;
}
