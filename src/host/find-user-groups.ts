// The groups of a job owner, for networks an administrator opened to groups.
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

// id -Gn asks NSS, so LDAP/NIS groups count as on every other host of the cluster.
export async function findUserGroups(user: string, run: RunCommand = runCommand): Promise<string[]> {
  if (!USER_NAME.test(user)) throw new VeError('invalid-user', 'prereq', `owner: not a user name (got ${JSON.stringify(user)})`, { field: 'owner' });
  const r = await run('id', ['-Gn', '--', user], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new VeError('unknown-user', 'environment', `owner ${user}: not known to this host (id -Gn)`, { field: 'owner' });
  return r.stdout.trim().split(/\s+/).filter((g) => g !== '');
}
