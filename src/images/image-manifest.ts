import { readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { writeFileNoFollow } from '../core/write-file-no-follow.js';
import { join, sep } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { isVeType, type VeType } from '../core/ve-type.js';
import { validateImageName } from '../core/validate-ve-spec.js';

/** One catalog entry: <imageDir>/<name>.json, written by the administrator (ve image add). */
export interface ImageManifest {
  readonly name: string;
  readonly type: VeType;
  /** dir: an LXC root file system tree; qcow2/raw: a disk image */
  readonly format: 'dir' | 'qcow2' | 'raw';
  /** absolute, resolved, inside the catalog directory */
  readonly path: string;
  /** LXC: init and its arguments */
  readonly init: readonly string[];
  /** QEMU direct kernel boot (images without a boot loader) */
  readonly kernel: string | undefined;
  readonly initrd: string | undefined;
  readonly cmdline: string | undefined;
  readonly os: string | undefined;
  /** kvm: the image's guest reads a cloud-init NoCloud seed (hostname, SSH keys); absent = no */
  readonly cloudInit?: boolean;
  /** the guest runs an SSH server on port 22 (ve ssh) and takes the owner's keys (LXC: seeded into the rootfs); absent = no */
  readonly ssh?: boolean;
  /** the account ve ssh logs in as and the seeded keys are for; absent = root */
  readonly sshUser?: string;
}

/** a login name inside the guest: what useradd accepts, and nothing ssh could read as an option */
const SSH_USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;

// Keys reach a guest through its cloud-init seed or, for an SSH-ready LXC image, its seeded rootfs.
export function takesSshKeys(image: Pick<ImageManifest, 'cloudInit' | 'ssh'>): boolean {
  return image.cloudInit === true || image.ssh === true;
}

// A boot script reaches an LXC guest through its rootfs copy (the image's init runs it), a QEMU guest only through a cloud-init seed.
export function takesBootScript(image: Pick<ImageManifest, 'type' | 'cloudInit'>): boolean {
  return image.type === 'lxc' || image.cloudInit === true;
}

function insideCatalog(imageDir: string, name: string, field: string, relative: unknown): string {
  if (typeof relative !== 'string' || relative.length === 0 || relative.startsWith('/') || relative.split('/').includes('..')) {
    throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): ${field} must be a path relative to the catalog without ".." (got ${JSON.stringify(relative)})`, { field });
  }
  let resolved: string;
  let root: string;
  try {
    root = realpathSync(imageDir);
    resolved = realpathSync(join(imageDir, relative));
  } catch (err) {
    throw new VeError('image-missing-on-host', 'environment', `image ${name}: ${field} ${relative} is not on this host`, { field, cause: err });
  }
  // symlinks may not lead out of the catalog
  if (!resolved.startsWith(root + sep)) {
    throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): ${field} resolves outside the catalog`, { field });
  }
  return resolved;
}

// Users only ever name images; the path comes from the admin's manifest and must stay in the catalog.
// A broken manifest refuses the VE (kind prereq): the admin's mistake, never a reason to take a host offline.
export function readImageManifest(imageDir: string, name: string): ImageManifest {
  validateImageName(name);
  let raw: string;
  try {
    raw = readFileSync(join(imageDir, `${name}.json`), 'utf8');
  } catch (err) {
    throw new VeError('image-not-in-catalog', 'prereq', `image: "${name}" is not in the catalog (see ve image list)`, { field: 'image', cause: err });
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw) as Record<string, unknown>;
  } catch (err) {
    throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): ${name}.json is not JSON`, { field: 'image', cause: err });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): ${name}.json is not a JSON object`, { field: 'image' });
  const type = o['type'];
  if (typeof type !== 'string' || !isVeType(type)) throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): type must be kvm or lxc`, { field: 'type' });
  const format = o['format'];
  if (format !== 'dir' && format !== 'qcow2' && format !== 'raw') throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): format must be dir, qcow2 or raw`, { field: 'format' });
  const init = o['init'] ?? ['/sbin/init'];
  if (!Array.isArray(init) || init.length === 0 || !init.every((a): a is string => typeof a === 'string')) {
    throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): init must be a non-empty list of strings`, { field: 'init' });
  }
  const cloudInit = o['cloudInit'];
  if (cloudInit !== undefined && typeof cloudInit !== 'boolean') throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): cloudInit must be true or false`, { field: 'cloudInit' });
  if (cloudInit === true && type !== 'kvm') throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): cloudInit is for kvm images only`, { field: 'cloudInit' });
  const ssh = o['ssh'];
  if (ssh !== undefined && typeof ssh !== 'boolean') throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): ssh must be true or false`, { field: 'ssh' });
  const sshUser = o['sshUser'];
  if (sshUser !== undefined && (typeof sshUser !== 'string' || !SSH_USER_PATTERN.test(sshUser))) {
    throw new VeError('invalid-image', 'prereq', `image ${name} (catalog, an administrator's to fix): sshUser must be a login name ([a-z_][a-z0-9_-]*, at most 32)`, { field: 'sshUser' });
  }
  const optionalPath = (key: string): string | undefined => (o[key] === undefined ? undefined : insideCatalog(imageDir, name, key, o[key]));
  const optionalText = (key: string): string | undefined => (typeof o[key] === 'string' ? o[key] : undefined);
  return {
    name,
    type,
    format,
    path: insideCatalog(imageDir, name, 'path', o['path']),
    init,
    kernel: optionalPath('kernel'),
    initrd: optionalPath('initrd'),
    cmdline: optionalText('cmdline'),
    os: optionalText('os'),
    ...(cloudInit === true ? { cloudInit: true } : {}),
    ...(ssh === true ? { ssh: true } : {}),
    ...(typeof sshUser === 'string' ? { sshUser } : {}),
  };
}

// The catalog is the set of manifests; a broken one is listed by name so the admin sees it.
export function listImageNames(imageDir: string): string[] {
  try {
    return readdirSync(imageDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

/** A manifest as stored: paths relative to the catalog directory. */
export interface ImageManifestFile {
  readonly name: string;
  readonly type: VeType;
  readonly format: 'dir' | 'qcow2' | 'raw';
  readonly path: string;
  readonly init?: readonly string[];
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly os?: string;
  readonly cloudInit?: boolean;
  readonly ssh?: boolean;
  readonly sshUser?: string;
}

// Written last and atomically: a VE never sees a manifest whose files are not all in place.
export function writeImageManifest(imageDir: string, manifest: ImageManifestFile): ImageManifest {
  validateImageName(manifest.name, 'name');
  const file = join(imageDir, `${manifest.name}.json`);
  writeFileNoFollow(file, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  return readImageManifest(imageDir, manifest.name);
}

// Removing the manifest first takes the image out of the catalog before its files go.
export function removeImageManifest(imageDir: string, name: string): void {
  validateImageName(name, 'name');
  rmSync(join(imageDir, `${name}.json`), { force: true });
}
