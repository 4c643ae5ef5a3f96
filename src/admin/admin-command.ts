// `ve admin ...`: what a batch administrator runs once per host (root).
import type { Command } from 'commander';
import { findConfigDir, findHostName, loadConfig, loadLdapWriteCredentials } from '../config/load-config.js';
import { findMonitorAccount, installVemon } from './install-vemon.js';
import { findUserIds } from '../host/find-user-ids.js';
import { applyLdapInstallSteps, buildLdapInstallSteps, DEFAULT_DATABASE_DN, formatLdapInstallSteps } from './install-ldap.js';
import { runHook } from '../host/run-hook.js';
import { formatInstallReport } from './install-report.js';
import { installMom, uninstallMom } from './install-mom.js';
import { applyTorqueServerCommands, buildSlurmConfLines, buildTorqueNodeNotes, buildTorqueServerCommands, DEFAULT_EVENT_SUBMITTER, findMonitorHosts, findVeHosts } from './install-server.js';
import { openBatch } from '../config/open-adapters.js';
import { buildSlurmHookPaths, DEFAULT_SLURM_HOOK_DIR, installSlurmHooks } from './install-slurm-hooks.js';
import { applySlurmQos, DEFAULT_VE_QOS, formatSlurmQosSteps } from './install-slurm-qos.js';
import { DEFAULT_SYSTEMD_UNIT_DIR, installHostWatch, uninstallHostWatch } from './install-host-watch.js';

const DEFAULT_PBS_HOME = process.env['PBS_HOME'] ?? '/var/spool/torque';
const say = (text: string): void => { process.stdout.write(`${text}\n`); };

interface MomFlags { pbsHome: string; dryRun?: boolean; yes?: boolean; nodeCheck?: boolean; allQueues?: boolean; nodePath?: string; installDir?: string }

// Registered by the `ve` entry point; every action goes through runHook for one error format and exit code.
export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('install pbs-ve into the batch system (root; see docs/admin-torque.md, docs/admin-slurm.md)');
  const install = admin.command('install').description('install one part of pbs-ve on this host');
  const uninstall = admin.command('uninstall').description('undo an install on this host');

  install.command('mom').description('TORQUE compute node: wrappers in <pbs-home>/mom_priv (prologue, epilogue, *.parallel; removes an old epilogue.precancel)')
    .option('--pbs-home <dir>', 'TORQUE PBS_HOME', DEFAULT_PBS_HOME)
    .option('--dry-run', 'print what would change, change nothing')
    .option('--yes', 'allow editing mom_priv/config (a file pbs-ve did not create)')
    .option('--node-check', 'also add "$node_check_script <mom_priv>/pbs-ve-health-check" to mom_priv/config')
    .option('--all-queues', 'let jobs of every queue start pbs-ve (default: only the VE queue of the config)')
    .option('--node-path <path>', 'absolute node binary (default: config nodePath)')
    .option('--install-dir <dir>', 'installed project holding dist/ (default: config installDir)')
    .action(async (o: MomFlags) => {
      await runHook('cli', async () => {
        const configDir = findConfigDir(process.env);
        const config = loadConfig(configDir);
        const report = await installMom({
          pbsHome: o.pbsHome, dryRun: o.dryRun === true, configDir,
          nodePath: o.nodePath ?? config.nodePath, installDir: o.installDir ?? config.installDir,
          ...(o.allQueues === true ? {} : { veQueue: config.batch.veQueue }),
          nodeCheck: o.nodeCheck === true, yes: o.yes === true,
        });
        say(formatInstallReport(report));
        return 0;
      });
    });

  uninstall.command('mom').description('TORQUE compute node: remove the wrappers, restore the site\'s own scripts')
    .option('--pbs-home <dir>', 'TORQUE PBS_HOME', DEFAULT_PBS_HOME)
    .option('--dry-run', 'print what would change, change nothing')
    .option('--yes', 'allow removing pbs-ve\'s line from mom_priv/config')
    .action(async (o: MomFlags) => {
      await runHook('cli', async () => {
        say(formatInstallReport(await uninstallMom({ pbsHome: o.pbsHome, dryRun: o.dryRun === true, yes: o.yes === true })));
        return 0;
      });
    });

  install.command('slurm-hooks').description('Slurm node: Prolog/Epilog/HealthCheckProgram wrappers slurm.conf can name')
    .option('--dir <dir>', 'where the wrappers go', DEFAULT_SLURM_HOOK_DIR)
    .option('--dry-run', 'print what would change, change nothing')
    .action(async (o: { dir: string; dryRun?: boolean }) => {
      await runHook('cli', async () => {
        const configDir = findConfigDir(process.env);
        const config = loadConfig(configDir);
        say(formatInstallReport(await installSlurmHooks({
          hookDir: o.dir, dryRun: o.dryRun === true, nodePath: config.nodePath, installDir: config.installDir, configDir,
          prologQueues: [config.batch.veQueue, ...(config.batch.opQueue === undefined ? [] : [config.batch.opQueue])], epilogQueues: [config.batch.veQueue],
        })));
        return 0;
      });
    });

  install.command('host-watch').description('VE host: the systemd service pbs-ve-host-watch (ve-host-watch, root, Restart=always); VE jobs end with their VEs only where it runs')
    .option('--host <name>', 'this host as the batch system names it (default: SLURMD_NODENAME or the short host name)')
    .option('--unit-dir <dir>', 'where systemd units go', DEFAULT_SYSTEMD_UNIT_DIR)
    .option('--no-start', 'write the unit only: no systemctl daemon-reload/enable --now (images, chroots)')
    .option('--dry-run', 'print what would change, change nothing')
    .action(async (o: { host?: string; unitDir: string; start: boolean; dryRun?: boolean }) => {
      await runHook('cli', async () => {
        const configDir = findConfigDir(process.env);
        const config = loadConfig(configDir);
        say(formatInstallReport(await installHostWatch({
          unitDir: o.unitDir, dryRun: o.dryRun === true, systemctl: o.start, nodePath: config.nodePath, installDir: config.installDir, configDir,
          host: o.host ?? findHostName(process.env),
        })));
        return 0;
      });
    });

  uninstall.command('host-watch').description('VE host: stop and disable pbs-ve-host-watch, remove its unit')
    .option('--unit-dir <dir>', 'where systemd units go', DEFAULT_SYSTEMD_UNIT_DIR)
    .option('--no-start', 'remove the unit file only: no systemctl disable --now/daemon-reload')
    .option('--dry-run', 'print what would change, change nothing')
    .action(async (o: { unitDir: string; start: boolean; dryRun?: boolean }) => {
      await runHook('cli', async () => {
        say(formatInstallReport(await uninstallHostWatch({ unitDir: o.unitDir, dryRun: o.dryRun === true, systemctl: o.start })));
        return 0;
      });
    });

  install.command('vemon').description('vemon node: give the account vemon jobs run as (TORQUE: batch.eventSubmitUser; Slurm: root) the host keys, ldap-write.json and <stateDir>/monitor')
    .option('--dry-run', 'print what would change, change nothing')
    .option('--account <user>', 'the monitor account (default: batch.eventSubmitUser on TORQUE, root on Slurm)')
    .action(async (o: { dryRun?: boolean; account?: string }) => {
      await runHook('cli', async () => {
        const configDir = findConfigDir(process.env);
        const config = loadConfig(configDir);
        const account = o.account ?? findMonitorAccount(config);
        const report = await installVemon({ config, configDir, account, ids: await findUserIds(account), dryRun: o.dryRun === true });
        say(formatInstallReport(report));
        return 0;
      });
    });

  install.command('ldap').description('the LDAP side: schema, base entries, the one writer and its ACLs (prints the LDIF; --apply runs ldapadd/ldapmodify on the LDAP server)')
    .option('--apply', 'apply it (as root on the LDAP server: cn=config through SASL EXTERNAL over ldapi)')
    .option('--credentials <file>', 'the writer identity, {bindDn, password} as in the vemon nodes\' ldap-write.json (default: config ldapWriteCredentialsFile)')
    .option('--database-dn <dn>', 'cn=config entry of the database holding ldap.baseDn', DEFAULT_DATABASE_DN)
    .option('--uri <uri>', '--apply: the LDAP server (ldapi for cn=config)', 'ldapi:///')
    .option('--bind-dn <dn>', '--apply: add the entries bound as this DN (e.g. the rootdn) instead of root over ldapi')
    .option('--bind-password-file <file>', '--apply: file with the --bind-dn password (ldapadd -y)')
    .action(async (o: { apply?: boolean; credentials?: string; databaseDn: string; uri: string; bindDn?: string; bindPasswordFile?: string }) => {
      await runHook('cli', async () => {
        const config = loadConfig(findConfigDir(process.env));
        const credentials = loadLdapWriteCredentials({ ...config, ldapWriteCredentialsFile: o.credentials ?? config.ldapWriteCredentialsFile }, 0);
        const steps = buildLdapInstallSteps({ baseDn: config.ldap.baseDn, writerDn: credentials.bindDn, writerPassword: credentials.password, databaseDn: o.databaseDn });
        if (o.apply !== true) {
          say(formatLdapInstallSteps(steps));
          return 0;
        }
        const results = await applyLdapInstallSteps(steps, {
          uri: o.uri, timeoutMs: 60_000,
          ...(o.bindDn === undefined ? {} : { bindDn: o.bindDn }), ...(o.bindPasswordFile === undefined ? {} : { bindPasswordFile: o.bindPasswordFile }),
        });
        for (const r of results) say(`${r.outcome.padEnd(8)} ${r.step}: ${r.detail}`);
        return 0;
      });
    });

  install.command('server').description('TORQUE: apply the qmgr commands (queues, vemon ACL, per-user limits); Slurm: the per-user limits on pbs-ve\'s QOS (sacctmgr, needs slurmdbd), and print the slurm.conf lines')
    .option('--dry-run', 'print the qmgr / sacctmgr commands, do not run them')
    .option('--qos <name>', `Slurm: pbs-ve's QOS, the VE partition's QOS= (default ${DEFAULT_VE_QOS})`, DEFAULT_VE_QOS)
    .option('--submitter <user>', `TORQUE: the only account allowed into the vemon queue (default: config batch.eventSubmitUser, ${DEFAULT_EVENT_SUBMITTER})`)
    .option('--monitor-host <host>', 'TORQUE: a host ve-monitor runs on as the event account, made operator there for reconcile --recover (repeat for several; default: the nodes with batch.vemonFeature)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--ve-host <host>', 'TORQUE: a host VEs run on, where root is made operator so that ve extend may raise a running VE job\'s walltime (repeat for several; default: the nodes with property lxc or kvm)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--hook-dir <dir>', 'Slurm: where `ve admin install slurm-hooks` put the wrappers', DEFAULT_SLURM_HOOK_DIR)
    .action(async (o: { dryRun?: boolean; submitter?: string; monitorHost: string[]; veHost: string[]; hookDir: string; qos: string }) => {
      await runHook('cli', async () => {
        const config = loadConfig(findConfigDir(process.env));
        if (config.batch.kind === 'slurm') {
          const steps = await applySlurmQos({
            qos: o.qos, limits: config.limits, dryRun: o.dryRun === true, slurmConf: config.batch.slurmConf, binDir: config.batch.binDir, timeoutMs: config.batch.timeoutMs,
          });
          // a cluster without slurmdbd and a config without limits: nothing to say about limits
          const shown = config.limits === undefined ? steps.filter((s) => s.outcome !== 'no-slurmdbd') : steps;
          for (const line of formatSlurmQosSteps(shown)) say(line);
          say(buildSlurmConfLines(config, buildSlurmHookPaths(o.hookDir), o.qos).join('\n'));
          if (o.dryRun === true) say('(dry run: sacctmgr was not run)');
          return 0;
        }
        const monitorHosts = o.monitorHost.length > 0 ? o.monitorHost : await findMonitorHosts(openBatch(config), config.batch.vemonFeature);
        const veHosts = o.veHost.length > 0 ? o.veHost : await findVeHosts(openBatch(config));
        const commands = buildTorqueServerCommands(config, { monitorHosts, veHosts, ...(o.submitter === undefined ? {} : { eventSubmitter: o.submitter }) });
        const results = await applyTorqueServerCommands(commands, { dryRun: o.dryRun === true, binDir: config.batch.binDir, timeoutMs: config.batch.timeoutMs });
        for (const r of results) say(r.outcome === 'would-apply' ? `qmgr -c '${r.command}'` : `${r.outcome.padEnd(8)} ${r.command}`);
        say(buildTorqueNodeNotes(config).join('\n'));
        if (o.dryRun === true) say('(dry run: qmgr was not run)');
        return 0;
      });
    });
}
