// Who runs a `ve` command, and whether pbs-ve treats them as an administrator.
import { userInfo } from 'node:os';
import { VeError } from '../core/ve-error.js';
import { findUserGroups } from '../host/find-user-groups.js';
import type { PbsVeConfig } from '../config/pbs-ve-config.js';

export interface Caller {
  readonly user: string;
  /** root, or a member of config adminGroup */
  readonly admin: boolean;
}

// Administrators are root and the members of one configured group; nobody else, whatever LDAP says.
export function decideAdmin(user: string, groups: readonly string[], adminGroup: string | undefined): boolean {
  return user === 'root' || (adminGroup !== undefined && groups.includes(adminGroup));
}

// The group list is asked only when the site configured an admin group (id -Gn: NSS, like every other host).
export async function findCaller(config: PbsVeConfig, lookupGroups: (user: string) => Promise<string[]> = findUserGroups): Promise<Caller> {
  const user = userInfo().username;
  const groups = user === 'root' || config.adminGroup === undefined ? [] : await lookupGroups(user);
  return { user, admin: decideAdmin(user, groups, config.adminGroup) };
}

// Admin-only options and commands say who may use them, before anything is asked or changed.
export function requireAdmin(caller: Caller, what: string, adminGroup: string | undefined): void {
  if (caller.admin) return;
  const who = adminGroup === undefined ? 'root' : `root and members of group "${adminGroup}" (config adminGroup)`;
  throw new VeError('permission-denied', 'prereq', `${what}: only ${who} may do this (you are ${caller.user})`, { field: what });
}

/** Whose VEs a command looks at: yourself by default; another owner, or everybody (undefined), for admins only. */
export function decideOwnerScope(caller: Caller, options: { readonly owner?: string | undefined; readonly allUsers?: boolean }, adminGroup: string | undefined): string | undefined {
  if (options.allUsers === true) {
    requireAdmin(caller, '--all-users', adminGroup);
    return options.owner;
  }
  if (options.owner === undefined || options.owner === caller.user) return caller.user;
  requireAdmin(caller, '--owner', adminGroup);
  return options.owner;
}
