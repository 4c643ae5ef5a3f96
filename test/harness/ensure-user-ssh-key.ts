// The owner's SSH key pair, made by the owner with ssh-keygen in their own ~/.ssh, and a fresh pbs-ve
// known_hosts (job ids repeat between sandboxes, and with them the host key aliases).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../src/core/run-command.js';

// Returns the public key file's path.
export async function ensureUserSshKey(user: string): Promise<string> {
  const dir = join('/home', user, '.ssh');
  const key = join(dir, 'id_ed25519');
  if (!existsSync(key)) {
    await runCommand('runuser', ['-u', user, '--', 'mkdir', '-p', '-m', '0700', dir], {});
    const r = await runCommand('runuser', ['-u', user, '--', 'ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${user}@submit`, '-f', key], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  }
  rmSync(join(dir, 'pbs-ve_known_hosts'), { force: true });
  return `${key}.pub`;
}
