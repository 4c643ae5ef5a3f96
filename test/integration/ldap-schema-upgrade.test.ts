// An existing directory with the first release's schema is brought up to schema/pbs-ve.ldif by
// scripts/upgrade-ldap-schema.sh, against a real slapd: entries kept, new attributes usable, idempotent,
// a downgrade refused.
import t from 'tap';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';
import { PROJECT_DIR } from '../../src/sandbox/sandbox.js';
import { startSlapd } from '../harness/slapd.js';

const SCRIPT = join(PROJECT_DIR, 'scripts/upgrade-ldap-schema.sh');
const OLD_SCHEMA = join(PROJECT_DIR, 'test/fixtures/ldap/pbs-ve-schema-0.1.ldif');
const slapd = await startSlapd({ schema: OLD_SCHEMA });
t.teardown(() => slapd.stop());
const ldapi = `ldapi://${encodeURIComponent(join(slapd.dir, 'ldapi'))}`;
const hostDn = `pbsveHostName=node1,ou=hosts,${slapd.baseDn}`;

// root over ldapi (peer credentials) manages everything, as on a Debian LDAP server
function ldap(tool: 'ldapadd' | 'ldapmodify', ldif: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return runCommand(tool, ['-Q', '-Y', 'EXTERNAL', '-H', ldapi], { input: ldif, timeoutMs: 20_000 });
}

const addReportedAt = `dn: ${hostDn}\nchangetype: modify\nadd: pbsveReportedAt\npbsveReportedAt: 20261123120000Z\n`;

void t.test('the first release schema is upgraded in place, entries kept, again and again', async (t) => {
  const added = await ldap('ldapadd', `dn: ${hostDn}\nobjectClass: pbsveHost\npbsveHostName: node1\npbsveState: up\n`);
  t.equal(added.exitCode, 0, added.stderr);
  const before = await ldap('ldapmodify', addReportedAt);
  t.not(before.exitCode, 0, 'the old schema does not know pbsveReportedAt');

  const dry = await runCommand(SCRIPT, ['-H', ldapi, '--dry-run'], { timeoutMs: 30_000 });
  t.equal(dry.exitCode, 0, dry.stderr);
  t.match(dry.stdout, /^dn: cn=\{\d+\}pbs-ve,cn=schema,cn=config\nchangetype: modify\nreplace: olcAttributeTypes\n/);
  t.match(dry.stdout, /NAME 'pbsveOrphanDomain'/);
  t.not((await ldap('ldapmodify', addReportedAt)).exitCode, 0, '--dry-run changed nothing');

  const up = await runCommand(SCRIPT, ['-H', ldapi], { timeoutMs: 30_000 });
  t.equal(up.exitCode, 0, up.stderr);
  t.match(up.stdout, /now holds the definitions of/);
  const after = await ldap('ldapmodify', addReportedAt);
  t.equal(after.exitCode, 0, `the new attribute is usable on the old entry: ${after.stderr}`);
  // issue 13: the virtual cluster entry and a VE's cluster attributes exist once upgraded
  const cluster = await ldap('ldapadd', `dn: pbsveClusterId=lab.alice,ou=ves,${slapd.baseDn}\nobjectClass: pbsveVirtualCluster\npbsveClusterId: lab.alice\npbsveCluster: lab\npbsveOwner: alice\npbsveState: up\npbsveSeq: 1\npbsveMember: lab-head head 10.99.0.10 7\n`);
  t.equal(cluster.exitCode, 0, `a cluster entry can be added: ${cluster.stderr}`);
  const again = await runCommand(SCRIPT, ['-H', ldapi], { timeoutMs: 30_000 });
  t.equal(again.exitCode, 0, `idempotent: ${again.stderr}`);

  const down = await runCommand(SCRIPT, ['-H', ldapi, '--schema', OLD_SCHEMA], { timeoutMs: 30_000 });
  t.equal(down.exitCode, 4, 'a downgrade is refused');
  t.match(down.stderr, /lacks definitions the directory has \(.*pbsveReportedAt.*\): not a newer pbs-ve schema; refused/);
  const search = await runCommand('ldapsearch', ['-LLL', '-Q', '-Y', 'EXTERNAL', '-H', ldapi, '-b', hostDn, '-s', 'base'], { timeoutMs: 20_000 });
  t.match(search.stdout, /pbsveState: up\npbsveReportedAt: 20261123120000Z/, 'the entry is whole');
});
