// The only place real adapters are built; entry points call these and hand ports to use-cases.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSlurmBatch } from '../batch/slurm-batch.js';
import { createTorqueBatch } from '../batch/torque-batch.js';
import { createLdapInventory } from '../inventory/ldap-inventory.js';
import { openEventJournal } from '../events/event-journal.js';
import { chooseVemonOutputPath, createEventSigner, createEventSink, type EventSink } from '../events/event-sink.js';
import { hostKeyPath, openHostKeyring } from '../events/host-key.js';
import { loadLdapWriteCredentials } from './load-config.js';
import { createLdapHostInventory } from '../inventory/ldap-host-inventory.js';
import { createLdapClusterInventory } from '../inventory/ldap-cluster-inventory.js';
import type { ClusterInventory } from '../inventory/cluster-inventory.js';
import { createLdapConsoleSource } from '../web/ldap-console-source.js';
import { createLdapLogin, type CheckLogin } from '../web/ldap-login.js';
import type { ConsoleSource } from '../web/console-source.js';
import type { HostInventory } from '../inventory/host-inventory.js';
import type { Batch } from '../batch/batch.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Virt } from '../virt/virt.js';
import type { PbsVeConfig } from './pbs-ve-config.js';

export function openBatch(config: PbsVeConfig): Batch {
  const common = { timeoutMs: config.batch.timeoutMs, ...(config.batch.binDir === undefined ? {} : { binDir: config.batch.binDir }) };
  return config.batch.kind === 'slurm'
    ? createSlurmBatch({ ...common, ...(config.batch.slurmConf === undefined ? {} : { slurmConf: config.batch.slurmConf }) })
    : createTorqueBatch({ ...common, submitAs: config.batch.eventSubmitUser, slotsPerCpu: config.batch.slotsPerCpu, commandScript: join(config.installDir, 'scripts/exec-command.sh') });
}

// Reads are anonymous (or the site's read account); writes need the vemon node's credentials file.
export function openInventory(config: PbsVeConfig, access: 'read' | 'write'): Inventory {
  const base = { url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs };
  if (access === 'read') return createLdapInventory(base);
  const credentials = loadLdapWriteCredentials(config);
  return createLdapInventory({ ...base, bindDn: credentials.bindDn, password: credentials.password });
}

// Cluster entries: every user reads them; only ve-monitor (the vemon node's credentials) writes them.
export function openClusterInventory(config: PbsVeConfig, access: 'read' | 'write'): ClusterInventory {
  const base = { url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs };
  if (access === 'read') return createLdapClusterInventory(base);
  const credentials = loadLdapWriteCredentials(config);
  return createLdapClusterInventory({ ...base, bindDn: credentials.bindDn, password: credentials.password });
}

// The web console reads only: anonymous (or the site's read account), never the write credentials.
export function openConsoleAdapters(config: PbsVeConfig): { readonly source: ConsoleSource; readonly inventory: Inventory; readonly hosts: HostInventory } {
  const base = { url: config.ldap.url, baseDn: config.ldap.baseDn, timeoutMs: config.ldap.timeoutMs };
  return { source: createLdapConsoleSource(base), inventory: createLdapInventory(base), hosts: createLdapHostInventory(base) };
}

export function openLdapLogin(config: PbsVeConfig, userDnTemplate: string): CheckLogin {
  return createLdapLogin({ url: config.ldap.url, timeoutMs: config.ldap.timeoutMs, userDnTemplate });
}

// The native binding loads only where a VE host talks to libvirt: ve, ve-monitor and the hooks of
// non-VE jobs start ~40 ms sooner without it (docs/benchmarks.md).
export async function openVirtAt(uri: string): Promise<Virt> {
  const { openLibvirtVirt } = await import('../virt/libvirt-virt.js');
  return openLibvirtVirt(uri);
}

export async function openReadOnlyVirtAt(uri: string): Promise<Virt> {
  const { openLibvirtVirt } = await import('../virt/libvirt-virt.js');
  return openLibvirtVirt(uri, { readOnly: true });
}

// Events are signed with the key of the host they claim (<configDir>/host-keys/<host>.key, 0600, root's on a compute host);
// given this host's name, a missing key is logged at once rather than at the first send.
export function openEventSink(config: PbsVeConfig, configDir: string, batch: Batch, log: (line: string) => void, host?: string): EventSink {
  if (host !== undefined && !existsSync(hostKeyPath(configDir, host))) log(`pbs-ve: no event key for host ${host}: events stay in the journal until ve-monitor keygen --host ${host}`);
  const sign = createEventSigner(openHostKeyring(configDir, log));
  return createEventSink({ batch, journal: openEventJournal(join(config.stateDir, 'journal', 'events.log')), config, configDir, log, sign, vemonOutputPath: () => chooseVemonOutputPath(config, log) });
}
