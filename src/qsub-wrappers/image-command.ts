import { Option, type Command } from 'commander';
import { findConfigDir, loadConfig, loadLdapWriteCredentials } from '../config/load-config.js';
import { openBatch, openInventory } from '../config/open-adapters.js';
import { createLdapImageCatalogInventory } from '../inventory/ldap-image-catalog-inventory.js';
import { runHook } from '../host/run-hook.js';
import { addImage, recordImage, type ImageCommandDeps } from './add-image.js';
import { formatImageTable, listImages } from './list-images.js';
import { removeImage } from './remove-image.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

const say = (line: string): void => { process.stdout.write(`${line}\n`); };

// The writer account is read only when a change is made, and only root can read its file anyway.
function openImageDeps(): ImageCommandDeps & { config: PbsVeConfig } {
  const config = loadConfig(findConfigDir(process.env));
  const ldap = { url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs };
  return {
    config,
    isRoot: process.getuid?.() === 0,
    openCatalogWriter: () => {
      const credentials = loadLdapWriteCredentials(config);
      return createLdapImageCatalogInventory({ ...ldap, bindDn: credentials.bindDn, password: credentials.password });
    },
  };
}

/** `ve image add|list|remove`: the administrator's image catalog (local directory + LDAP). */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('the image catalog VEs are created from (add/remove: root)');

  image.command('add').argument('<name>', 'catalog name: letters, digits, "_", "-", "."').argument('<file>', 'kvm: qcow2/raw disk image; lxc: root file system directory or tar archive')
    .description('copy an image into the catalog directory, write its manifest, record it in LDAP')
    .addOption(new Option('--type <type>', 'kvm or lxc').choices(['kvm', 'lxc']).makeOptionMandatory())
    .option('--os <os>', 'operating system, e.g. debian12')
    .option('--kernel <file>', 'kvm: kernel for direct boot')
    .option('--initrd <file>', 'kvm: initrd for direct boot (needs --kernel)')
    .option('--cmdline <text>', 'kvm: kernel command line (needs --kernel)')
    .option('--init <command>', 'lxc: init and its arguments (default /sbin/init)')
    .option('--description <text>', 'one line for ve image list and LDAP')
    .option('--cloud-init', 'kvm: the guest reads a cloud-init NoCloud seed; its VEs get one with their hostname and the owner\'s SSH keys')
    .option('--local-only', 'this host\'s catalog only, LDAP not written (a host without the LDAP write credentials); ve image record NAME finishes it later')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string, o: { type: string; os?: string; kernel?: string; initrd?: string; cmdline?: string; init?: string; description?: string; cloudInit?: boolean; localOnly?: boolean; json?: boolean }) => {
      await runHook('cli', async () => {
        const { json, ...rest } = o;
        const r = await addImage({ name, file, ...rest }, openImageDeps());
        if (json === true) say(JSON.stringify(r));
        else say(`image ${name} (${r.manifest.type}, ${r.manifest.format}${r.manifest.cloudInit === true ? ', cloud-init' : ''}) added at ${r.manifest.path}; ${r.ldap}`);
        // LDAP meant to be written and not written: a service fault (3), the local part stands
        return r.recorded || o.localOnly === true ? 0 : 3;
      });
    });

  image.command('record').argument('<name>', 'an image of this host\'s catalog').description('record an image of this host\'s catalog in LDAP (after ve image add --local-only, or an LDAP outage during add)')
    .option('--description <text>', 'one line for ve image list and LDAP')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: { description?: string; json?: boolean }) => {
      await runHook('cli', async () => {
        const r = await recordImage(name, o.description, openImageDeps());
        say(o.json === true ? JSON.stringify({ name, ...r }) : `image ${name}: ${r.detail}`);
        return 0;
      });
    });

  image.command('list').description('the images of this host\'s catalog and of LDAP')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) => {
      await runHook('cli', async () => {
        const config = loadConfig(findConfigDir(process.env));
        const catalog = createLdapImageCatalogInventory({ url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs });
        try {
          const { rows, ldapError } = await listImages({ config, catalog });
          say(o.json === true ? JSON.stringify(rows, null, 2) : formatImageTable(rows, ldapError));
          return 0;
        } finally {
          await catalog.close();
        }
      });
    });

  image.command('remove').argument('<name>', 'catalog name').description('remove an image no VE uses (refused while one does)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      await runHook('cli', async () => {
        const deps = openImageDeps();
        const inventory = openInventory(deps.config, 'read');
        try {
          const r = await removeImage(name, { ...deps, inventory, batch: openBatch(deps.config) });
          say(o.json === true ? JSON.stringify({ name, removed: true, ldap: r.ldap }) : `image ${name} removed; ${r.ldap}`);
          return 0;
        } finally {
          await inventory.close();
        }
      });
    });
}
