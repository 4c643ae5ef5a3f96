import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { VeError, invalidField } from '../core/ve-error.js';
import { validateImageName } from '../core/validate-ve-spec.js';
import { isFinalState } from '../core/ve-state.js';
import { listImageNames, readImageManifest, removeImageManifest } from '../images/image-manifest.js';
import { findJobSpec } from '../batch/find-job-spec.js';
import { recordInLdap, requireRoot, type ImageCommandDeps } from './add-image.js';
import type { Batch } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';

export interface RemoveImageDeps extends ImageCommandDeps {
  readonly inventory: Inventory;
  readonly batch: Batch;
}

// Live VEs (LDAP) and queued VE jobs (batch system) both hold the image: either refuses the removal.
async function findImageUsers(name: string, deps: RemoveImageDeps): Promise<string[]> {
  const live = (await deps.inventory.listVes({ includeFinal: true }))
    .filter((ve) => ve.image === name && !isFinalState(ve.state))
    .map((ve) => `VE ${ve.name} of ${ve.owner} (job ${ve.jobId}, ${ve.state})`);
  const queued = (await deps.batch.listJobs({ queue: deps.config.batch.veQueue }))
    .filter((job) => job.state !== 'completed' && findJobSpec(job)?.image === name)
    .map((job) => `job ${job.jobId} of ${job.owner} (${job.state})`);
  return [...live, ...new Set(queued)];
}

/** `ve image remove`: refused while a VE uses the image; then manifest, files and LDAP entry go. */
export async function removeImage(nameInput: string, deps: RemoveImageDeps): Promise<{ ldap: string }> {
  requireRoot(deps.isRoot, 've image remove');
  const name = validateImageName(nameInput, 'name');
  const imageDir = deps.config.imageDir;
  const inLocalCatalog = listImageNames(imageDir).includes(name);
  // a manifest that no longer parses is still removable: its files are whatever <name>/ holds
  const manifest = inLocalCatalog ? (() => { try { return readImageManifest(imageDir, name); } catch { return undefined; } })() : undefined;
  let users: string[];
  try {
    users = await findImageUsers(name, deps);
  } catch (err) {
    throw new VeError('image-use-unknown', 'environment', `image ${name}: nothing was removed, because whether a VE uses it cannot be told: live VEs are read from LDAP and queued VE jobs from the batch system, and this failed: ${err instanceof Error ? err.message : String(err)}. Run ve image remove ${name} where both answer (the batch client commands and LDAP reachable), or once they are back`, { cause: err });
  }
  if (users.length > 0) throw invalidField('name', `image "${name}" is in use by ${users.join(', ')}`, name);
  removeImageManifest(imageDir, name);
  for (const path of [manifest?.path, manifest?.kernel, manifest?.initrd]) {
    if (path !== undefined) rmSync(path, { recursive: true, force: true });
  }
  rmSync(join(imageDir, name), { recursive: true, force: true });
  let inLdap = false;
  const outcome = await recordInLdap(deps, async (catalog) => {
    inLdap = await catalog.removeImage(name);
    if (!inLdap && !inLocalCatalog) throw invalidField('name', `"${name}" is neither in this host's catalog nor in LDAP`, name);
  });
  if (!inLocalCatalog && !outcome.recorded) throw invalidField('name', `"${name}" is not in this host's catalog (${outcome.detail})`, name);
  const ldap = outcome.recorded
    ? (inLdap ? 'removed from LDAP' : 'LDAP did not have it')
    : `${outcome.detail}: if LDAP has it (ve image list), remove it there with ve image remove ${name} on a host with the LDAP write credentials`;
  return { ldap };
}
