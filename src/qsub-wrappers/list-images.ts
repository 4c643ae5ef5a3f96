import { listImageNames, readImageManifest } from '../images/image-manifest.js';
import type { ImageCatalogInventory } from '../inventory/image-catalog-inventory.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface ImageRow {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly os: string;
  /** the manifest is on this host and its files are in place */
  readonly local: boolean;
  /** recorded in LDAP (undefined: LDAP could not be read) */
  readonly ldap: boolean | undefined;
  /** why a local manifest is unusable, '' when it is fine */
  readonly problem: string;
  /** the image reads a cloud-init seed (ve create --ssh-key works with it); absent = no */
  readonly cloudInit?: true;
}

export interface ListImagesDeps {
  readonly config: PbsVeConfig;
  readonly catalog: ImageCatalogInventory;
}

// Admins compare the two views: the host's catalog directory (what VEs start from) and LDAP (what the site registered).
export async function listImages(deps: ListImagesDeps): Promise<{ rows: ImageRow[]; ldapError: string | undefined }> {
  const rows = new Map<string, ImageRow>();
  for (const name of listImageNames(deps.config.imageDir)) {
    try {
      const m = readImageManifest(deps.config.imageDir, name);
      rows.set(name, { name, type: m.type, format: m.format, os: m.os ?? '', local: true, ldap: false, problem: '', ...(m.cloudInit === true ? { cloudInit: true } : {}) });
    } catch (err) {
      rows.set(name, { name, type: '?', format: '?', os: '', local: false, ldap: false, problem: err instanceof Error ? err.message : String(err) });
    }
  }
  let ldapError: string | undefined;
  try {
    for (const r of await deps.catalog.listImages()) {
      const local = rows.get(r.name);
      rows.set(r.name, local === undefined
        ? { name: r.name, type: r.type, format: r.format, os: r.os, local: false, ldap: true, problem: 'not in this host\'s catalog directory', ...(r.cloudInit === true ? { cloudInit: true as const } : {}) }
        : { ...local, ldap: true });
    }
  } catch (err) {
    ldapError = err instanceof Error ? err.message : String(err);
    for (const [name, row] of rows) rows.set(name, { ...row, ldap: undefined });
  }
  return { rows: [...rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), ldapError };
}

// One line per image, columns aligned; problems follow the table so the columns stay readable.
export function formatImageTable(rows: readonly ImageRow[], ldapError: string | undefined): string {
  const yesNo = (v: boolean | undefined): string => (v === undefined ? '?' : v ? 'yes' : 'no');
  const table = [['NAME', 'TYPE', 'FORMAT', 'OS', 'LOCAL', 'LDAP'], ...rows.map((r) => [r.name, r.cloudInit === true ? `${r.type}+cloud-init` : r.type, r.format, r.os || '-', yesNo(r.local), yesNo(r.ldap)])];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? [];
  const lines = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  for (const r of rows) if (r.problem !== '') lines.push(`# ${r.name}: ${r.problem}`);
  if (ldapError !== undefined) lines.push(`# LDAP could not be read: ${ldapError}`);
  return lines.join('\n');
}
