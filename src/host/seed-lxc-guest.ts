import { lchownSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { buildEtcHosts } from '../core/build-etc-hosts.js';
import { validateGuestHostname } from '../core/validate-ve-hosts.js';
import { validateSshPublicKeys } from '../core/validate-ssh-public-key.js';
import { validateBootScript } from '../core/validate-boot-script.js';
import type { LxcIdMap } from '../virt/domain-spec.js';
import type { VeHostEntry } from '../core/ve-spec.js';

/** What an LXC VE's rootfs copy is given before its first start: its identity and its owner's keys. */
export interface LxcGuestSeed {
  readonly hostname: string;
  readonly hosts: readonly VeHostEntry[];
  /** for the container's root (/root/.ssh/authorized_keys); empty = the file is left as the image has it */
  readonly sshKeys: readonly string[];
  /** the owner's boot script, written to /etc/pbs-ve/boot.sh (the image's init runs it); absent = none written */
  readonly bootScript?: string;
}


// A directory of the owner's rootfs, made if missing; an existing entry that is not a plain directory (a link
// the image or a moved VE's root planted) is refused: root never writes through it.
function ensureGuestDir(rootfsDir: string, relative: string, mode: number, ids: { uid: number; gid: number }): string {
  let path = rootfsDir;
  for (const part of relative.split('/')) {
    path = join(path, part);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      mkdirSync(path, { mode });
      lchownSync(path, ids.uid, ids.gid);
      continue;
    }
    if (!st.isDirectory()) {
      throw new VeError('guest-path-unsafe', 'prereq', `image: /${relative} in the VE's root file system is not a directory (a symbolic link?); its hostname and keys are not written through it`, { field: 'image' });
    }
  }
  return path;
}

// Runs as root on the rootfs copy while no container runs on it: the owner's values are re-validated and
// every file is written by a fresh name and renamed (writeFileNoFollow), so a planted link is replaced, never followed.
export function seedLxcGuest(rootfsDir: string, idMap: LxcIdMap | undefined, seed: LxcGuestSeed): void {
  const hostname = validateGuestHostname(seed.hostname);
  const etcHosts = buildEtcHosts(hostname, seed.hosts);
  const keys = validateSshPublicKeys(seed.sshKeys);
  const bootScript = seed.bootScript === undefined ? undefined : validateBootScript(seed.bootScript);
  // the container's root: id 0 inside is the slot's first id on the host
  const ids = { uid: idMap?.target ?? 0, gid: idMap?.target ?? 0 };
  const etc = ensureGuestDir(rootfsDir, 'etc', 0o755, ids);
  writeFileNoFollow(join(etc, 'hostname'), `${hostname}\n`, { mode: 0o644, owner: ids });
  writeFileNoFollow(join(etc, 'hosts'), etcHosts, { mode: 0o644, owner: ids });
  // the owner's script runs only inside the container, as its root: root here writes it and never runs it
  if (bootScript !== undefined) writeFileNoFollow(join(ensureGuestDir(rootfsDir, 'etc/pbs-ve', 0o755, ids), 'boot.sh'), bootScript, { mode: 0o755, owner: ids });
  if (keys.length === 0) return;
  ensureGuestDir(rootfsDir, 'root', 0o700, ids);
  const ssh = ensureGuestDir(rootfsDir, 'root/.ssh', 0o700, ids);
  // sshd and dropbear refuse keys in a file or directory others can write: 0700 and 0600, the container root's
  writeFileNoFollow(join(ssh, 'authorized_keys'), `${keys.join('\n')}\n`, { mode: 0o600, owner: ids });
}
