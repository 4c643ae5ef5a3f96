import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addImage, recordImage, type ImageCommandDeps } from '../../src/qsub-wrappers/add-image.js';
import { removeImage } from '../../src/qsub-wrappers/remove-image.js';
import { parseConfig } from '../../src/config/load-config.js';
import { VeError } from '../../src/core/ve-error.js';
import type { ImageCatalogInventory, ImageRecord } from '../../src/inventory/image-catalog-inventory.js';
import type { Batch } from '../../src/batch/batch.js';
import type { Inventory } from '../../src/inventory/inventory.js';

// The LDAP catalog as a map; `writable` false is a host without ldap-write.json, `down` an LDAP outage.
function buildCatalog(): { images: Map<string, ImageRecord>; writable: boolean; down: boolean; open: () => ImageCatalogInventory } {
  const c = {
    images: new Map<string, ImageRecord>(), writable: true, down: false,
    open(): ImageCatalogInventory {
      if (!c.writable) throw new VeError('no-ldap-write-credentials', 'environment', 'cannot read /etc/pbs-ve/ldap-write.json (ENOENT): LDAP writes happen only on vemon nodes');
      const up = (): void => { if (c.down) throw new VeError('inventory-unavailable', 'environment', 'LDAP bind: connect ECONNREFUSED'); };
      return {
        putImage: (r) => { up(); c.images.set(r.name, r); return Promise.resolve(); },
        getImage: (n) => Promise.resolve(c.images.get(n)),
        listImages: () => Promise.resolve([...c.images.values()]),
        removeImage: (n) => { up(); return Promise.resolve(c.images.delete(n)); },
        close: () => Promise.resolve(),
      };
    },
  };
  return c;
}

function setup(t: { teardown: (fn: () => void) => void }): { dir: string; rootfs: string; catalog: ReturnType<typeof buildCatalog>; deps: ImageCommandDeps } {
  const dir = mkdtempSync('/tmp/pbsve-img-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const rootfs = join(dir, 'src-rootfs');
  mkdirSync(join(rootfs, 'sbin'), { recursive: true });
  writeFileSync(join(rootfs, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
  const catalog = buildCatalog();
  const config = parseConfig({ batch: { kind: 'torque' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, imageDir: join(dir, 'images') });
  return { dir, rootfs, catalog, deps: { config, isRoot: true, openCatalogWriter: () => catalog.open() } };
}

void t.test('a host without LDAP write credentials: refused before anything is copied, with where to run it instead', async (t) => {
  const { dir, rootfs, catalog, deps } = setup(t);
  catalog.writable = false;
  await t.rejects(addImage({ name: 'deb', file: rootfs, type: 'lxc' }, deps), {
    code: 'image-catalog-unwritable', kind: 'prereq',
    message: /this host cannot write the LDAP image catalog \(cannot read \/etc\/pbs-ve\/ldap-write.json.*\); nothing was changed\. Run it on a host with the LDAP write credentials \(a vemon node\) that sees the same imageDir .*, or add --local-only/,
  });
  t.notOk(existsSync(join(dir, 'images')) && readdirSync(join(dir, 'images')).length > 0, 'the catalog directory is untouched');
});

void t.test('--local-only: added here, says it is not in LDAP and how to finish; ve image record finishes it', async (t) => {
  const { rootfs, catalog, deps } = setup(t);
  catalog.writable = false;
  const r = await addImage({ name: 'deb', file: rootfs, type: 'lxc', localOnly: true }, deps);
  t.equal(r.recorded, false);
  t.match(r.ldap, /in this host's catalog only, not in LDAP \(--local-only\); to record it in LDAP later.*: ve image record deb/);
  await t.rejects(addImage({ name: 'deb', file: rootfs, type: 'lxc' }, deps), { code: 'invalid-field', message: /in this host's catalog already .*record it with: ve image record deb; to replace it: ve image remove deb, then add it again/ });
  await t.rejects(recordImage('deb', undefined, deps), { code: 'image-catalog-unwritable', message: /run it on a host with the LDAP write credentials/ });
  catalog.writable = true;
  t.same(await recordImage('deb', 'Debian 12', deps), { recorded: true, detail: 'recorded in LDAP' });
  t.match(catalog.images.get('deb'), { name: 'deb', type: 'lxc', format: 'dir', description: 'Debian 12' });
});

void t.test('LDAP down during add: the local image stays, the message says so and how to finish', async (t) => {
  const { rootfs, catalog, deps } = setup(t);
  catalog.down = true;
  const r = await addImage({ name: 'deb', file: rootfs, type: 'lxc' }, deps);
  t.equal(r.recorded, false);
  t.match(r.ldap, /^NOT recorded in LDAP \(LDAP bind: connect ECONNREFUSED\); the image is in this host's catalog, to finish once LDAP answers: ve image record deb$/);
  catalog.down = false;
  t.same(await recordImage('deb', undefined, deps), { recorded: true, detail: 'recorded in LDAP' });
  t.ok(catalog.images.has('deb'));
});

void t.test('remove: when VEs and jobs cannot be listed, nothing goes and the message says what is needed', async (t) => {
  const { dir, rootfs, deps } = setup(t);
  await addImage({ name: 'deb', file: rootfs, type: 'lxc', localOnly: true }, deps);
  const inventory = { listVes: () => Promise.resolve([]) } as unknown as Inventory;
  const batch = { listJobs: () => Promise.reject(new VeError('batch-unavailable', 'environment', 'qstat: cannot connect to server vm')) } as unknown as Batch;
  await t.rejects(removeImage('deb', { ...deps, inventory, batch }), { code: 'image-use-unknown', message: /nothing was removed, because whether a VE uses it cannot be told: .*queued VE jobs from the batch system.*cannot connect.*Run ve image remove deb where both answer/ });
  t.ok(existsSync(join(dir, 'images', 'deb.json')), 'still there');
  const okBatch = { listJobs: () => Promise.resolve([]) } as unknown as Batch;
  t.same(await removeImage('deb', { ...deps, inventory, batch: okBatch }), { ldap: 'LDAP did not have it' });
  t.notOk(existsSync(join(dir, 'images', 'deb.json')));
});
