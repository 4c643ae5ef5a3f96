// The shape of /etc/pbs-ve/config.json: the same file on every host, no secrets in it.
import type { NetworkConfig } from './network-config.js';

export interface HostVirtConfig {
  /** libvirt URI for LXC VEs on this host (root) */
  readonly lxcUri: string;
  /** libvirt URI for QEMU/KVM VEs on this host (root) */
  readonly qemuUri: string;
  /** read-only URIs the job body (running as the job owner) watches its domain through */
  readonly roLxcUri: string;
  readonly roQemuUri: string;
}

/** "%h" in each value is the other host's name as the batch system names it */
export interface MigrationConfig {
  /** libvirt URI of another host's daemon for LXC domains and storage (e.g. lxc+tls://%h/system) */
  readonly peerLxcUri: string;
  /** the same for QEMU domains (e.g. qemu+tls://%h/system); live migration is driven over it */
  readonly peerQemuUri: string;
  /** where a destination's QEMU listens for the guest's memory and disks (e.g. %h, or a migration network name) */
  readonly address: string;
}

export type KvmAcceleration = 'auto' | 'kvm' | 'tcg';

/** host ids LXC containers are mapped to: slot i is first + i * 65536 .. + 65535, one slot per container */
export interface LxcIdsConfig {
  readonly first: number;
  readonly slots: number;
}

/** ids per container: 0-65535, the whole classic id space an image's files and users use */
export const LXC_ID_COUNT = 65_536;
/** 0x40000000 onwards, inside systemd's container id block (524288-1879048191), far above LDAP users */
export const DEFAULT_LXC_IDS: LxcIdsConfig = { first: 0x4000_0000, slots: 4096 };

export interface PbsVeConfig {
  readonly batch: {
    readonly kind: 'slurm' | 'torque';
    /** directory of sbatch/squeue/scontrol or qsub/qstat; default: PATH */
    readonly binDir: string | undefined;
    /** Slurm only: slurm.conf, passed as SLURM_CONF */
    readonly slurmConf: string | undefined;
    readonly veQueue: string;
    /** where op jobs (ve stop, snapshot, migrate ...) go: a queue/partition over the VE hosts with room VEs cannot take
     *  (Slurm: the VE partition capped with MaxCPUsPerNode below the nodes' CPUs); default: veQueue */
    readonly opQueue?: string;
    readonly vemonQueue: string;
    /** node feature (TORQUE property, Slurm Feature) of the vemon nodes; event jobs ask for it explicitly,
     *  since a queue default (TORQUE neednodes) never applies to a job that names its own nodes */
    readonly vemonFeature: string;
    /** the longest lease the VE queue allows, in seconds */
    readonly maxLeaseSeconds: number;
    readonly timeoutMs: number;
    /** TORQUE: qsub refuses root, so root hooks submit event jobs as this account (acl_users of vemon) */
    readonly eventSubmitUser: string;
    /** how often a prologue may meet a host fault before the job is aborted and the node taken offline */
    readonly maxStarts: number;
    /** the most nodes (parts) one VE may span; absent = 1 */
    readonly maxNodes?: number;
    /** TORQUE: slots (np, ppn) per cpu. VE jobs ask slotsPerCpu x vcpus, op jobs one slot, and VE hosts are
     *  declared with np = slotsPerCpu x cpus + slotsPerCpu - 1: the last slots are never a VE's, so an
     *  operation on a full host still runs (docs/design.md, "Capacity"). Default 2; 1 = TORQUE's own count */
    readonly slotsPerCpu: number;
  };
  readonly ldap: {
    readonly url: string;
    readonly baseDn: string;
    readonly timeoutMs: number;
    /** how long `ve-monitor apply` keeps retrying an unreachable LDAP before it leaves the events
     *  spooled (exit 75); default 300, the `--ldap-wait` option overrides it */
    readonly applyWaitSeconds?: number;
  };
  /** JSON {bindDn, password}, 0600, owned by the account vemon jobs run as (TORQUE pbsve, Slurm root); vemon nodes only */
  readonly ldapWriteCredentialsFile: string;
  /** the config dir vemon jobs run with (the vemon nodes' own, holding the write credentials); default: this host's */
  readonly monitorConfigDir?: string;
  /** the config dir VE job scripts run with on compute hosts; default: the submitting host's. "%h" = the
   *  host's name, for several simulated hosts on one machine (the sandbox) */
  readonly hostConfigDir?: string;
  /** the state dir of compute hosts as seen from here, for op job scripts and `ve console`; default: stateDir.
   *  "%h" = the VE's host (the sandbox's simulated hosts share one file system) */
  readonly hostStateDir?: string;
  readonly virt: {
    /** per host name as the batch system names hosts; "default" is used for hosts not listed */
    readonly hosts: Readonly<Record<string, HostVirtConfig>>;
    /** how long the prologue waits for a domain to run, below TORQUE's $prologalarm */
    readonly startTimeoutMs: number;
    /** --type kvm VEs: kvm (hardware), tcg (emulated, domain type qemu) or auto (probe /dev/kvm once per boot) */
    readonly kvmAcceleration: KvmAcceleration;
    /** LXC user namespaces; absent = DEFAULT_LXC_IDS */
    readonly lxcIds?: LxcIdsConfig;
    /** ve migrate: how one host's root reaches another host's libvirtd; absent = migration refused */
    readonly migration?: MigrationConfig;
  };
  /** image catalog: <dir>/<name>.json manifests */
  readonly imageDir: string;
  /** per-VE disks and state: <stateDir>/jobs/<jobId>/ */
  readonly stateDir: string;
  /** absolute path of node, for job scripts run in the batch system's near-empty environment */
  readonly nodePath: string;
  /** absolute path of the installed project (holding dist/) */
  readonly installDir: string;
  readonly minMemoryMiB: number;
  /** ve-monitor alerts: absolute path of a command + its arguments; the alert text goes to its stdin */
  readonly alertCommand?: readonly string[];
  /** crashed VEs and orphan domains, handled by ve-host-report; absent: the defaults of parseRecoveryConfig */
  readonly recovery?: RecoveryConfig;
  /** VE networks (src/config/network-config.ts); absent = defaults (one default network per host) */
  readonly network?: NetworkConfig;
  /** Unix group whose members are pbs-ve administrators besides root (ve list --all-users, ve host drain/resume);
   *  absent: root only. The batch system still decides what they may do to other users' jobs and to nodes */
  readonly adminGroup?: string;
  /** per-user limits on the VE queue (docs/design.md "Per-user limits"); absent: none */
  readonly limits?: UserLimits;
  /** `ve-monitor web` (docs/web-console.md); absent: the console cannot log anybody in */
  readonly web?: WebConfig;
}

export interface WebConfig {
  /** the DN a user binds as to log in, "%u" = the (checked, DN-escaped) user name: uid=%u,ou=people,dc=example,dc=org */
  readonly userDnTemplate: string;
  /** host:port; default 127.0.0.1:8443 */
  readonly listen?: string;
  /** PEM certificate and key (absolute paths); without them only a loopback address is served (plain HTTP) */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
}

export interface UserLimits {
  /** VEs (VE jobs, queued or running) one user may hold at once */
  readonly vesPerUser?: number;
  /** vcpus (summed over nodes) of all VEs of one user */
  readonly cpusPerUser?: number;
  /** memory in MiB (summed over nodes) of all VEs of one user */
  readonly memoryMiBPerUser?: number;
}

export interface RecoveryConfig {
  /** restarts of a crashed VE allowed within windowSeconds before it is rolled back (default 3) */
  readonly maxRestarts: number;
  /** default 3600 */
  readonly windowSeconds: number;
  /** how long the job body waits for a crashed domain to be recovered before it ends the job (default 600) */
  readonly waitSeconds: number;
  /** how long a pbsve-* domain no job claims stays before the host destroys it (default 600) */
  readonly orphanGraceSeconds: number;
  /** how long a destroyed VE's job directory (console log, record) stays for its owner before the host removes it (default 7 days) */
  readonly jobDirKeepSeconds?: number;
}
