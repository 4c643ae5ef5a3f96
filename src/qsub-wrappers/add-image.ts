import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VeError, invalidField } from '../core/ve-error.js';
import { isVeType, VE_TYPES } from '../core/ve-type.js';
import { validateImageName } from '../core/validate-ve-spec.js';
import { runCommand, type RunCommand } from '../core/run-command.js';
import { readImageManifest, writeImageManifest, type ImageManifest, type ImageManifestFile } from '../images/image-manifest.js';
import type { ImageCatalogInventory, ImageRecord } from '../inventory/image-catalog-inventory.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface AddImageInput {
  readonly name: string;
  /** a qcow2/raw disk image (kvm) or a root file system directory or tar archive (lxc) */
  readonly file: string;
  readonly type: string;
  readonly os?: string;
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  /** lxc: init and its arguments, space separated (default /sbin/init) */
  readonly init?: string;
  readonly description?: string;
  /** kvm: the guest reads a cloud-init NoCloud seed; VEs of it get one (hostname, the owner's SSH keys) */
  readonly cloudInit?: boolean;
  /** this host's catalog only, LDAP not written (a host without the LDAP write credentials) */
  readonly localOnly?: boolean;
}

export interface ImageCommandDeps {
  readonly config: PbsVeConfig;
  readonly isRoot: boolean;
  /** the LDAP catalog with write access; throws (VeError) where this host has no writer credentials */
  readonly openCatalogWriter: () => ImageCatalogInventory;
  readonly run?: RunCommand;
}

export interface AddImageResult {
  readonly manifest: ImageManifest;
  /** recorded, or why LDAP was not written and how to finish (the local catalog has the image either way) */
  readonly ldap: string;
  /** true when LDAP holds the change */
  readonly recorded: boolean;
}

export interface LdapOutcome {
  readonly recorded: boolean;
  readonly detail: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHAR = /[\u0000-\u001F\u007F]/;

// Catalog changes are the administrator's: users only ever pick names from it.
export function requireRoot(isRoot: boolean, what: string): void {
  if (!isRoot) throw new VeError('permission-denied', 'prereq', `${what}: only root (the administrator) may change the image catalog`);
}

// Free text that ends up in manifests, LDAP and the kernel command line: one line, bounded.
function checkLine(field: string, value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (value.length > max || CONTROL_CHAR.test(value)) throw invalidField(field, `must be one line of at most ${max} characters`, value);
  return value;
}

function requireFile(field: string, path: string, kind: 'file' | 'file-or-dir'): string {
  const abs = resolve(path);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw invalidField(field, 'must be an existing file', path);
  }
  if (!st.isFile() && !(kind === 'file-or-dir' && st.isDirectory())) throw invalidField(field, kind === 'file' ? 'must be a regular file' : 'must be a file or a directory', path);
  return abs;
}

// A catalog disk must stand alone: overlays of VEs are made on it, never on something it points to.
async function inspectDiskImage(file: string, run: RunCommand): Promise<'qcow2' | 'raw'> {
  const r = await run('qemu-img', ['info', '--output=json', '--', file], { timeoutMs: 30_000 });
  let info: { format?: unknown; 'backing-filename'?: unknown } = {};
  try {
    info = JSON.parse(r.stdout) as typeof info;
  } catch {
    // reported below
  }
  if (r.exitCode !== 0) throw invalidField('file', `qemu-img cannot read it: ${r.stderr.trim()}`, file);
  if (info.format !== 'qcow2' && info.format !== 'raw') throw invalidField('file', 'a kvm image must be a qcow2 or raw disk image', info.format);
  if (info.format === 'raw' && statSync(file).size < 1024 * 1024) throw invalidField('file', 'a raw disk image of less than 1 MiB is no disk image', file);
  if (info['backing-filename'] !== undefined) throw invalidField('file', 'must not have a backing file (qemu-img convert it to a standalone image first)', file);
  return info.format;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

async function copyInto(run: RunCommand, from: string, to: string): Promise<void> {
  const r = await run('cp', ['-a', '--reflink=auto', '--sparse=always', '--', from, to], { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new VeError('image-copy-failed', 'exec', `copying ${from}: ${r.stderr.trim()}`);
}

// A kvm image: the disk (and a kernel/initrd for direct boot) copied into <imageDir>/<name>/.
async function placeKvmImage(input: AddImageInput, staging: string, run: RunCommand): Promise<Omit<ImageManifestFile, 'name' | 'type' | 'os'>> {
  const file = requireFile('file', input.file, 'file');
  const format = await inspectDiskImage(file, run);
  const kernel = input.kernel === undefined ? undefined : requireFile('kernel', input.kernel, 'file');
  const initrd = input.initrd === undefined ? undefined : requireFile('initrd', input.initrd, 'file');
  if (initrd !== undefined && kernel === undefined) throw invalidField('initrd', 'needs --kernel', input.initrd);
  if (input.cmdline !== undefined && kernel === undefined) throw invalidField('cmdline', 'needs --kernel', input.cmdline);
  await copyInto(run, file, join(staging, `disk.${format}`));
  if (kernel !== undefined) await copyInto(run, kernel, join(staging, 'vmlinuz'));
  if (initrd !== undefined) await copyInto(run, initrd, join(staging, 'initrd'));
  return {
    format,
    path: `${input.name}/disk.${format}`,
    ...(kernel === undefined ? {} : { kernel: `${input.name}/vmlinuz` }),
    ...(initrd === undefined ? {} : { initrd: `${input.name}/initrd` }),
    ...(input.cmdline === undefined ? {} : { cmdline: input.cmdline }),
  };
}

// An lxc image: a root file system tree (copied) or a tar archive (unpacked) at <imageDir>/<name>/rootfs.
async function placeLxcImage(input: AddImageInput, staging: string, run: RunCommand): Promise<Omit<ImageManifestFile, 'name' | 'type' | 'os'>> {
  for (const [field, value] of [['kernel', input.kernel], ['initrd', input.initrd], ['cmdline', input.cmdline]] as const) {
    if (value !== undefined) throw invalidField(field, 'is for kvm images only', value);
  }
  const file = requireFile('file', input.file, 'file-or-dir');
  const rootfs = join(staging, 'rootfs');
  if (statSync(file).isDirectory()) {
    await copyInto(run, file, rootfs);
  } else {
    mkdirSync(rootfs, { mode: 0o755 });
    const r = await run('tar', ['-x', '--numeric-owner', '-f', file, '-C', rootfs], { timeoutMs: 30 * 60_000 });
    if (r.exitCode !== 0) throw invalidField('file', `not a root file system directory or tar archive: ${r.stderr.trim().slice(0, 200)}`, input.file);
  }
  const init = (input.init ?? '/sbin/init').split(' ').filter((a) => a !== '');
  const initPath = init[0] ?? '';
  if (!initPath.startsWith('/') || initPath.split('/').includes('..')) throw invalidField('init', 'must start with an absolute path inside the image', input.init);
  try {
    lstatSync(join(rootfs, initPath));
  } catch {
    throw invalidField('init', `${initPath} is not in the image's root file system`, input.init);
  }
  return { format: 'dir', path: `${input.name}/rootfs`, init };
}

/** `ve image add`: the image is placed into the catalog directory, its manifest written, and it is recorded in LDAP. */
export async function addImage(input: AddImageInput, deps: ImageCommandDeps): Promise<AddImageResult> {
  const run = deps.run ?? runCommand;
  requireRoot(deps.isRoot, 've image add');
  const name = validateImageName(input.name, 'name');
  if (!isVeType(input.type)) throw invalidField('type', `must be one of ${VE_TYPES.join(', ')}`, input.type);
  const os = checkLine('os', input.os, 64);
  checkLine('cmdline', input.cmdline, 1024);
  checkLine('init', input.init, 1024);
  const description = checkLine('description', input.description, 256) ?? '';
  if (input.cloudInit === true && input.type !== 'kvm') throw invalidField('cloud-init', 'is for kvm images only (LXC containers have no cloud-init seed)', input.type);
  const imageDir = deps.config.imageDir;
  const target = join(imageDir, name);
  if (existsSync(join(imageDir, `${name}.json`)) || existsSync(target)) {
    throw invalidField('name', `"${name}" is in this host's catalog already (${target}): if LDAP does not have it yet (ve image list shows it as local), record it with: ve image record ${name}; to replace it: ve image remove ${name}, then add it again`, name);
  }
  // checked before anything is copied: a host that cannot write LDAP must not end up half done
  if (input.localOnly !== true) checkCatalogWriter(deps, name);
  mkdirSync(imageDir, { recursive: true, mode: 0o755 });
  // staged next to the target and renamed: a half-copied image never carries the catalog name
  const staging = join(imageDir, `.${name}.adding-${process.pid}`);
  mkdirSync(staging, { mode: 0o755 });
  let placed;
  try {
    placed = input.type === 'kvm' ? await placeKvmImage(input, staging, run) : await placeLxcImage(input, staging, run);
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  let manifest: ImageManifest;
  try {
    manifest = writeImageManifest(imageDir, { name, type: input.type, ...placed, ...(os === undefined ? {} : { os }), ...(input.cloudInit === true ? { cloudInit: true } : {}) });
  } catch (err) {
    rmSync(join(imageDir, `${name}.json`), { force: true });
    rmSync(target, { recursive: true, force: true });
    throw err;
  }
  if (input.localOnly === true) {
    return { manifest, recorded: false, ldap: `in this host's catalog only, not in LDAP (--local-only); to record it in LDAP later, on a host with the LDAP write credentials that sees ${imageDir}: ve image record ${name}` };
  }
  const record = await buildImageRecord(manifest, description);
  const outcome = await recordInLdap(deps, (catalog) => catalog.putImage(record));
  return {
    manifest, recorded: outcome.recorded,
    ldap: outcome.recorded ? outcome.detail : `${outcome.detail}; the image is in this host's catalog, to finish once LDAP answers: ve image record ${name}`,
  };
}

// The LDAP entry describes the catalog files: size and checksum are read from them, never taken on trust.
async function buildImageRecord(manifest: ImageManifest, description: string): Promise<ImageRecord> {
  return {
    name: manifest.name, type: manifest.type, path: manifest.path, format: manifest.format, os: manifest.os ?? '', description,
    sizeBytes: manifest.format === 'dir' ? 0 : statSync(manifest.path).size,
    checksum: manifest.format === 'dir' ? '' : await sha256File(manifest.path),
    ...(manifest.cloudInit === true ? { cloudInit: true } : {}),
  };
}

// No credentials here is a prerequisite not met, said before any copy: where to run it instead, or --local-only.
function checkCatalogWriter(deps: ImageCommandDeps, name: string): void {
  let catalog: ImageCatalogInventory;
  try {
    catalog = deps.openCatalogWriter();
  } catch (err) {
    throw new VeError('image-catalog-unwritable', 'prereq', `ve image add ${name}: this host cannot write the LDAP image catalog (${err instanceof Error ? err.message : String(err)}); nothing was changed. Run it on a host with the LDAP write credentials (a vemon node) that sees the same imageDir (${deps.config.imageDir}), or add --local-only to put the image into this host's catalog only (record it in LDAP later with ve image record ${name})`, { cause: err });
  }
  void catalog.close().catch(() => undefined);
}

/** `ve image record`: puts an image of this host's catalog into LDAP (after --local-only, or an LDAP outage during add). */
export async function recordImage(nameInput: string, description: string | undefined, deps: ImageCommandDeps): Promise<LdapOutcome> {
  requireRoot(deps.isRoot, 've image record');
  const name = validateImageName(nameInput, 'name');
  const manifest = readImageManifest(deps.config.imageDir, name);
  const record = await buildImageRecord(manifest, checkLine('description', description, 256) ?? '');
  let catalog: ImageCatalogInventory;
  try {
    catalog = deps.openCatalogWriter();
  } catch (err) {
    throw new VeError('image-catalog-unwritable', 'prereq', `ve image record ${name}: this host cannot write the LDAP image catalog (${err instanceof Error ? err.message : String(err)}); run it on a host with the LDAP write credentials (a vemon node) that sees ${deps.config.imageDir}`, { cause: err });
  }
  try {
    await catalog.putImage(record);
    return { recorded: true, detail: 'recorded in LDAP' };
  } finally {
    await catalog.close().catch(() => undefined);
  }
}

// LDAP is written where the writer credentials are (vemon nodes); elsewhere the local catalog is enough, and we say so.
export async function recordInLdap(deps: ImageCommandDeps, change: (catalog: ImageCatalogInventory) => Promise<unknown>): Promise<LdapOutcome> {
  let catalog: ImageCatalogInventory;
  try {
    catalog = deps.openCatalogWriter();
  } catch (err) {
    return { recorded: false, detail: `NOT recorded in LDAP: this host cannot write it (${err instanceof Error ? err.message : String(err)})` };
  }
  try {
    await change(catalog);
    return { recorded: true, detail: 'recorded in LDAP' };
  } catch (err) {
    return { recorded: false, detail: `NOT recorded in LDAP (${err instanceof Error ? err.message : String(err)})` };
  } finally {
    await catalog.close().catch(() => undefined);
  }
}
