// The rootfs copy of an LXC VE belongs to its user namespace: image id n becomes host id target + n.
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import type { LxcIdMap } from '../virt/domain-spec.js';

/**
 * Walks the tree without following links (lstat, lchown; symlinked directories are not entered), each
 * inode once (hard links would be shifted twice). chown clears set-id bits, so they are put back: the
 * container's own set-uid programs keep working, set-uid to its root, which is nobody on the host.
 * File capabilities (security.capability) are lost with the chown: an image relying on them (ping) has
 * to run those programs as the container's root.
 */
export async function shiftTreeOwnership(root: string, idMap: LxcIdMap, from = 0): Promise<number> {
  const seen = new Set<string>();
  const pending = [root];
  let count = 0;
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    const st = await lstat(path, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    if (!st.isDirectory() && st.nlink > 1n) seen.add(key);
    // from: the tree already belongs to another slot (a container moved from another host)
    const uid = Number(st.uid) - from;
    const gid = Number(st.gid) - from;
    if (uid < 0 || gid < 0 || uid >= idMap.count || gid >= idMap.count) {
      throw new VeError('image-ids-unmapped', 'prereq', `image: ${path} is owned by ${uid}:${gid}, outside the ${idMap.count} ids a container maps`, { field: 'image' });
    }
    await lchown(path, idMap.target + uid, idMap.target + gid);
    count++;
    const mode = Number(st.mode);
    if (st.isSymbolicLink()) continue;
    if ((mode & 0o6000) !== 0) await chmod(path, mode & 0o7777);
    if (st.isDirectory()) {
      for (const name of await readdir(path)) pending.push(join(path, name));
    }
  }
  return count;
}
