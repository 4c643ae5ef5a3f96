// Installed hook scripts and units: root-owned, exact mode, replaced in one rename so a batch system or
// systemd never reads half a file (TORQUE refuses, and requeues forever on, scripts that are not root's 0500).
import { chmod, chown, rename, rm, writeFile } from 'node:fs/promises';

export async function writeRootFile(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.pbs-ve-tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, content, { mode, flag: 'wx' });
  await chown(tmp, 0, 0);
  await chmod(tmp, mode);
  await rename(tmp, path);
}
