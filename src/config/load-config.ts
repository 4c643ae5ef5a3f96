import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import { parseNetworkConfig } from './network-config.js';
import { DEFAULT_SLOTS_PER_CPU } from '../batch/torque-slots.js';
import { DEFAULT_LXC_IDS, LXC_ID_COUNT, type HostVirtConfig, type KvmAcceleration, type LxcIdsConfig, type MigrationConfig, type PbsVeConfig, type RecoveryConfig, type UserLimits, type WebConfig } from './pbs-ve-config.js';

export const DEFAULT_CONFIG_DIR = '/etc/pbs-ve';

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/** This host as the batch system names it: Slurm tells its hooks and jobs, TORQUE's MOM is the host name. */
export function findHostName(env: Readonly<Record<string, string | undefined>>): string {
  return env['SLURMD_NODENAME'] ?? hostname().split('.')[0] ?? hostname();
}

// Several daemons of one machine (slurmd -N, multi-MOM) are several hosts: "%h" in the directory names
// this one, as Slurm's own %n does for SlurmdSpoolDir. Installed hooks set PBS_VE_CONFIG_DIR; else /etc/pbs-ve.
export function findConfigDir(env: Readonly<Record<string, string | undefined>>): string {
  const dir = env['PBS_VE_CONFIG_DIR'] ?? DEFAULT_CONFIG_DIR;
  if (!dir.includes('%h')) return dir;
  const host = findHostName(env);
  if (!HOST_NAME.test(host)) {
    throw new VeError('invalid-config', 'environment', `PBS_VE_CONFIG_DIR: "%h" needs a host name of letters, digits and hyphens (got ${JSON.stringify(host.slice(0, 80))})`, { field: 'PBS_VE_CONFIG_DIR' });
  }
  return dir.replaceAll('%h', host);
}

function bad(field: string, rule: string, got: unknown): never {
  throw new VeError('invalid-config', 'environment', `config ${field}: ${rule} (got ${JSON.stringify(got)})`, { field });
}

function text(o: Record<string, unknown>, key: string, path: string, fallback?: string): string {
  const v = o[key] ?? fallback;
  if (typeof v !== 'string' || v.length === 0) bad(`${path}${key}`, 'must be a non-empty string', v);
  return v;
}

function absolute(o: Record<string, unknown>, key: string, path: string, fallback?: string): string {
  const v = text(o, key, path, fallback);
  if (!v.startsWith('/') || v.split('/').includes('..')) bad(`${path}${key}`, 'must be an absolute path without ".."', v);
  return v;
}

function count(o: Record<string, unknown>, key: string, path: string, fallback: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) bad(`${path}${key}`, 'must be a positive whole number', v);
  return v;
}

// TORQUE slots per cpu: np and ppn are multiplied by it, so it stays small (docs/design.md, "Capacity").
function slotsPerCpu(v: unknown): number {
  const value = v ?? DEFAULT_SLOTS_PER_CPU;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 16) bad('batch.slotsPerCpu', 'must be a whole number from 1 to 16 (TORQUE slots per cpu; 2 keeps one slot a host for operations)', value);
  return value;
}

// A node feature lands in qsub -l nodes=...:<feature> and sbatch --constraint: one plain word only.
function feature(o: Record<string, unknown>, key: string, path: string, fallback: string): string {
  const v = text(o, key, path, fallback);
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(v)) bad(`${path}${key}`, 'must be one node feature: a letter, then letters, digits, "_", "." or "-"', v);
  return v;
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object', v);
  return v as Record<string, unknown>;
}

// Hosts without working /dev/kvm still run --type kvm VEs, emulated; the admin may force either way.
function acceleration(v: unknown): KvmAcceleration {
  if (v === undefined) return 'auto';
  if (v !== 'auto' && v !== 'kvm' && v !== 'tcg') bad('virt.kvmAcceleration', 'must be "auto", "kvm" or "tcg"', v);
  return v;
}

// Each value names the other host through "%h": one entry serves every pair of hosts.
function migrationConfig(v: unknown): MigrationConfig {
  const o = object(v, 'virt.migration');
  const withHost = (key: string): string => {
    const value = text(o, key, 'virt.migration.');
    if (!value.includes('%h')) bad(`virt.migration.${key}`, 'must name the other host as "%h"', value);
    return value;
  };
  return { peerLxcUri: withHost('peerLxcUri'), peerQemuUri: withHost('peerQemuUri'), address: text(o, 'address', 'virt.migration.') };
}

// The ranges must hold no real user of the site (root above all) and stay below (uid_t)-1.
function lxcIds(v: unknown): LxcIdsConfig {
  if (v === undefined) return DEFAULT_LXC_IDS;
  const o = object(v, 'virt.lxcIds');
  const first = count(o, 'first', 'virt.lxcIds.', DEFAULT_LXC_IDS.first);
  const slots = count(o, 'slots', 'virt.lxcIds.', DEFAULT_LXC_IDS.slots);
  if (first < LXC_ID_COUNT) bad('virt.lxcIds.first', `must be at least ${LXC_ID_COUNT} (above the ids of ordinary users)`, first);
  if (first + slots * LXC_ID_COUNT > 4_294_967_295) bad('virt.lxcIds.slots', `first + slots * ${LXC_ID_COUNT} must stay below 4294967295`, slots);
  return { first, slots };
}

// The alert command runs as root on the vemon node without a shell: an absolute program, plain strings.
function alertCommand(v: unknown): readonly string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((a): a is string => typeof a === 'string' && a.length > 0)) {
    bad('alertCommand', 'must be a non-empty array of non-empty strings (program, then arguments)', v);
  }
  const program = v[0] ?? '';
  if (!program.startsWith('/') || program.split('/').includes('..')) bad('alertCommand', 'its first element must be an absolute path without ".."', v);
  return v;
}

// A group name reaches id -Gn output comparisons only, but a typo should fail at load, not deny everybody later.
function groupName(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(v)) bad('adminGroup', 'must be a Unix group name', v);
  return v;
}

// Each limit is optional; the ones given must be positive whole numbers (they become qmgr values).
function userLimits(v: unknown): UserLimits {
  const o = object(v, 'limits');
  const known = ['vesPerUser', 'cpusPerUser', 'memoryMiBPerUser'];
  for (const key of Object.keys(o)) if (!known.includes(key)) bad(`limits.${key}`, `is not a limit pbs-ve knows (${known.join(', ')})`, o[key]);
  return Object.fromEntries(known.filter((k) => o[k] !== undefined).map((k) => [k, count(o, k, 'limits.', 1)]));
}

/** The recovery defaults: 3 restarts per hour, 10 min of waiting in the job body and of orphan grace. */
export function parseRecoveryConfig(v: unknown): RecoveryConfig {
  const r = v === undefined ? {} : object(v, 'recovery');
  return {
    maxRestarts: count(r, 'maxRestarts', 'recovery.', 3),
    windowSeconds: count(r, 'windowSeconds', 'recovery.', 3600),
    waitSeconds: count(r, 'waitSeconds', 'recovery.', 600),
    orphanGraceSeconds: count(r, 'orphanGraceSeconds', 'recovery.', 600),
    jobDirKeepSeconds: count(r, 'jobDirKeepSeconds', 'recovery.', 7 * 86400),
  };
}

// Config errors must name the key: an admin fixes them from the message alone.
// The login DN is a template the site writes once; "%u" must be a whole RDN value, so a user name can only fill that value.
function webConfig(v: unknown): WebConfig {
  const o = object(v, 'web');
  const template = text(o, 'userDnTemplate', 'web.');
  if (!/^[A-Za-z][A-Za-z0-9-]*=%u,/.test(template) || template.split('%u').length !== 2) {
    bad('web.userDnTemplate', 'must start with one "<attribute>=%u," RDN and name %u once (uid=%u,ou=people,dc=example,dc=org)', template);
  }
  if ((o['tlsCertFile'] === undefined) !== (o['tlsKeyFile'] === undefined)) bad('web.tlsKeyFile', 'tlsCertFile and tlsKeyFile go together', o['tlsKeyFile']);
  return {
    userDnTemplate: template,
    ...(o['listen'] === undefined ? {} : { listen: text(o, 'listen', 'web.') }),
    ...(o['tlsCertFile'] === undefined ? {} : { tlsCertFile: absolute(o, 'tlsCertFile', 'web.'), tlsKeyFile: absolute(o, 'tlsKeyFile', 'web.') }),
  };
}

export function parseConfig(json: unknown): PbsVeConfig {
  const root = object(json, '(root)');
  const batch = object(root['batch'], 'batch');
  const kind = batch['kind'];
  if (kind !== 'slurm' && kind !== 'torque') bad('batch.kind', 'must be "slurm" or "torque"', kind);
  const ldap = object(root['ldap'], 'ldap');
  const virt = object(root['virt'], 'virt');
  const hostsIn = object(virt['hosts'], 'virt.hosts');
  const hosts: Record<string, HostVirtConfig> = {};
  for (const [host, value] of Object.entries(hostsIn)) {
    const h = object(value, `virt.hosts.${host}`);
    const p = `virt.hosts.${host}.`;
    hosts[host] = {
      lxcUri: text(h, 'lxcUri', p, 'lxc:///system'),
      qemuUri: text(h, 'qemuUri', p, 'qemu:///system'),
      roLxcUri: text(h, 'roLxcUri', p, 'lxc:///system?readonly'),
      roQemuUri: text(h, 'roQemuUri', p, 'qemu:///system?readonly'),
    };
  }
  return {
    batch: {
      kind,
      binDir: batch['binDir'] === undefined ? undefined : absolute(batch, 'binDir', 'batch.'),
      slurmConf: batch['slurmConf'] === undefined ? undefined : absolute(batch, 'slurmConf', 'batch.'),
      veQueue: text(batch, 'veQueue', 'batch.', 'batch'),
      ...(batch['opQueue'] === undefined ? {} : { opQueue: text(batch, 'opQueue', 'batch.') }),
      vemonQueue: text(batch, 'vemonQueue', 'batch.', 'vemon'),
      vemonFeature: feature(batch, 'vemonFeature', 'batch.', 'vemon'),
      maxLeaseSeconds: count(batch, 'maxLeaseSeconds', 'batch.', 7 * 86400),
      timeoutMs: count(batch, 'timeoutMs', 'batch.', 30_000),
      eventSubmitUser: text(batch, 'eventSubmitUser', 'batch.', 'pbsve'),
      maxStarts: count(batch, 'maxStarts', 'batch.', 3),
      maxNodes: count(batch, 'maxNodes', 'batch.', 16),
      slotsPerCpu: slotsPerCpu(batch['slotsPerCpu']),
    },
    ldap: {
      url: text(ldap, 'url', 'ldap.'),
      baseDn: text(ldap, 'baseDn', 'ldap.'),
      timeoutMs: count(ldap, 'timeoutMs', 'ldap.', 10_000),
      ...(ldap['applyWaitSeconds'] === undefined ? {} : { applyWaitSeconds: count(ldap, 'applyWaitSeconds', 'ldap.', 300) }),
    },
    ldapWriteCredentialsFile: absolute(root, 'ldapWriteCredentialsFile', '', '/etc/pbs-ve/ldap-write.json'),
    ...(root['monitorConfigDir'] === undefined ? {} : { monitorConfigDir: absolute(root, 'monitorConfigDir', '') }),
    ...(root['hostConfigDir'] === undefined ? {} : { hostConfigDir: absolute(root, 'hostConfigDir', '') }),
    ...(root['hostStateDir'] === undefined ? {} : { hostStateDir: absolute(root, 'hostStateDir', '') }),
    virt: {
      hosts, startTimeoutMs: count(virt, 'startTimeoutMs', 'virt.', 120_000), kvmAcceleration: acceleration(virt['kvmAcceleration']), lxcIds: lxcIds(virt['lxcIds']),
      ...(virt['migration'] === undefined ? {} : { migration: migrationConfig(virt['migration']) }),
    },
    imageDir: absolute(root, 'imageDir', '', '/var/lib/pbs-ve/images'),
    stateDir: absolute(root, 'stateDir', '', '/var/lib/pbs-ve'),
    nodePath: absolute(root, 'nodePath', '', process.execPath),
    installDir: absolute(root, 'installDir', '', '/opt/pbs-ve'),
    minMemoryMiB: count(root, 'minMemoryMiB', '', 32),
    ...(root['alertCommand'] === undefined ? {} : { alertCommand: alertCommand(root['alertCommand']) }),
    recovery: parseRecoveryConfig(root['recovery']),
    network: parseNetworkConfig(root['network']),
    ...(root['adminGroup'] === undefined ? {} : { adminGroup: groupName(root['adminGroup']) }),
    ...(root['limits'] === undefined ? {} : { limits: userLimits(root['limits']) }),
    ...(root['web'] === undefined ? {} : { web: webConfig(root['web']) }),
  };
}

export function loadConfig(configDir: string): PbsVeConfig {
  const file = join(configDir, 'config.json');
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VeError('config-missing', 'environment', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseConfig(JSON.parse(raw));
  } catch (err) {
    if (err instanceof VeError) throw err;
    throw new VeError('invalid-config', 'environment', `${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** A compute host's state directory as this host sees it: hostStateDir with "%h" = that host, else stateDir. */
export function findHostStateDir(config: PbsVeConfig, host: string): string {
  return config.hostStateDir === undefined ? config.stateDir : config.hostStateDir.replaceAll('%h', host);
}

// The virt URIs of the host we run on; a host not listed uses "default".
export function findHostVirt(config: PbsVeConfig, host: string): HostVirtConfig {
  const entry = config.virt.hosts[host] ?? config.virt.hosts['default'];
  if (entry === undefined) {
    throw new VeError('host-not-configured', 'environment', `config virt.hosts: no entry for host "${host}" and no "default"`, { field: 'virt.hosts' });
  }
  return entry;
}

export interface LdapWriteCredentials {
  readonly bindDn: string;
  readonly password: string;
}

// Only vemon nodes have this file; anywhere else its absence is the expected answer. It is the
// monitor account's secret (TORQUE: pbsve, Slurm: root): owned by whoever uses it, no group/other
// access. Root may use one owned by the monitor account (ve image add on a vemon node).
export function loadLdapWriteCredentials(config: PbsVeConfig, euid: number | undefined = process.geteuid?.()): LdapWriteCredentials {
  const file = config.ldapWriteCredentialsFile;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new VeError('no-ldap-write-credentials', 'environment', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): LDAP writes happen only on vemon nodes, as the account vemon jobs run as`, { cause: err });
  }
  let raw: string;
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0 || (euid !== undefined && euid !== 0 && st.uid !== euid)) {
      throw new VeError('ldap-credentials-insecure', 'environment', `${file}: must be mode 0600 and owned by the account that uses it (uid ${euid ?? '?'}; it is mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`);
    }
    raw = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new VeError('invalid-config', 'environment', `${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const o = object(json, file);
  return { bindDn: text(o, 'bindDn', ''), password: text(o, 'password', '') };
}
