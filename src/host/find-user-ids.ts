// The numeric ids of a job owner, for files root makes on the owner's behalf (console log, kept disks).
import { VeError } from '../core/ve-error.js';
import { runCommand, type RunCommand } from '../core/run-command.js';

export interface UserIds {
  readonly uid: number;
  readonly gid: number;
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

// getent, not /etc/passwd: cluster users usually come from LDAP/NIS through NSS.
export async function findUserIds(user: string, run: RunCommand = runCommand): Promise<UserIds> {
  if (!USER_NAME.test(user)) throw new VeError('invalid-user', 'prereq', `owner: not a user name (got ${JSON.stringify(user)})`, { field: 'owner' });
  const r = await run('getent', ['passwd', user], { timeoutMs: 10_000 });
  const fields = r.stdout.trim().split('\n')[0]?.split(':') ?? [];
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (r.exitCode !== 0 || fields[0] !== user || !Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || fields[2] === '' || fields[3] === '') {
    throw new VeError('unknown-user', 'environment', `owner ${user}: not known to this host (getent passwd)`, { field: 'owner' });
  }
  return { uid, gid };
}
