// Who is an admin, and whose VEs a command may look at.
import t from 'tap';
import { decideAdmin, decideOwnerScope } from '../../src/cli/find-caller.js';
import { parseConfig } from '../../src/config/load-config.js';

const base = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} } };

void t.test('admins are root and the members of config adminGroup', (t) => {
  t.ok(decideAdmin('root', [], undefined));
  t.notOk(decideAdmin('alice', ['wheel', 'pbsveadm'], undefined), 'no group configured: root only');
  t.ok(decideAdmin('alice', ['users', 'pbsveadm'], 'pbsveadm'));
  t.notOk(decideAdmin('bob', ['users'], 'pbsveadm'));
  t.end();
});

void t.test('owner scope: yourself by default, another owner or everybody for admins only', (t) => {
  const user = { user: 'alice', admin: false };
  const admin = { user: 'carol', admin: true };
  t.equal(decideOwnerScope(user, {}, 'adm'), 'alice');
  t.equal(decideOwnerScope(user, { owner: 'alice' }, 'adm'), 'alice');
  t.throws(() => decideOwnerScope(user, { owner: 'bob' }, 'adm'), { code: 'permission-denied', message: /--owner: only root and members of group "adm"/ });
  t.throws(() => decideOwnerScope(user, { allUsers: true }, undefined), { code: 'permission-denied', message: /--all-users: only root may do this \(you are alice\)/ });
  t.equal(decideOwnerScope(admin, {}, 'adm'), 'carol', 'an admin\'s plain list is their own too');
  t.equal(decideOwnerScope(admin, { allUsers: true }, 'adm'), undefined);
  t.equal(decideOwnerScope(admin, { owner: 'bob' }, 'adm'), 'bob');
  t.end();
});

void t.test('config adminGroup and limits are checked at load', (t) => {
  t.equal(parseConfig({ ...base, adminGroup: 'pbsveadm' }).adminGroup, 'pbsveadm');
  t.throws(() => parseConfig({ ...base, adminGroup: 'a b' }), { code: 'invalid-config', field: 'adminGroup' });
  t.same(parseConfig({ ...base, limits: { vesPerUser: 2, cpusPerUser: 4 } }).limits, { vesPerUser: 2, cpusPerUser: 4 });
  t.throws(() => parseConfig({ ...base, limits: { vesPerUser: 0 } }), { code: 'invalid-config', field: 'limits.vesPerUser' });
  t.throws(() => parseConfig({ ...base, limits: { vms: 3 } }), { code: 'invalid-config', field: 'limits.vms' });
  t.equal(parseConfig(base).limits, undefined);
  t.end();
});
