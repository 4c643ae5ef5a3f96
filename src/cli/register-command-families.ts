// The `ve` commands beyond create/list/show/destroy, in families that are imported only when asked for.
import type { Command } from 'commander';

/** One family: the top-level words it defines and how to load its registration. */
export interface CommandFamily {
  readonly words: readonly string[];
  readonly load: () => Promise<(program: Command) => void>;
}

/** In help order. A word missing here still works (every family is then loaded), only slower. */
export const COMMAND_FAMILIES: readonly CommandFamily[] = [
  { words: ['cluster'], load: async () => (await import('../qsub-wrappers/cluster-command.js')).registerClusterCommands },
  { words: ['image'], load: async () => (await import('../qsub-wrappers/image-command.js')).registerImageCommands },
  { words: ['host'], load: async () => (await import('../qsub-wrappers/host-command.js')).registerHostCommands },
  { words: ['console'], load: async () => (await import('../qsub-wrappers/console-command.js')).registerConsoleCommands },
  { words: ['ssh', 'relay', 'relay-client'], load: async () => (await import('../qsub-wrappers/ssh-command.js')).registerSshCommands },
  { words: ['snapshot', 'rollback'], load: async () => (await import('../qsub-wrappers/snapshot-command.js')).registerSnapshotCommands },
  { words: ['stop', 'start', 'restart', 'suspend', 'extend', 'migrate', 'resume'], load: async () => (await import('../qsub-wrappers/operation-commands.js')).registerOperationCommands },
  { words: ['sandbox'], load: async () => (await import('../sandbox/sandbox-command.js')).registerSandboxCommands },
  { words: ['admin'], load: async () => (await import('../admin/admin-command.js')).registerAdminCommands },
];

/** The command word of a `ve` argv (after node and the script): its first argument, unless that is an option
 *  (`ve -h create` is the program's help, which lists every family). */
export function findCommandWord(args: readonly string[]): string | undefined {
  const first = args[0];
  return first === undefined || first.startsWith('-') ? undefined : first;
}

/**
 * Every `ve` start pays for loading what it registers (the sandbox, admin and cluster families were about
 * 0.2 s of CPU of each `ve create`). A core command loads no family, a family's word loads that family,
 * anything else (help, no command, an unknown word) loads all of them, so help and errors stay as they were.
 */
export async function registerCommandFamilies(program: Command, args: readonly string[], coreWords: readonly string[], families: readonly CommandFamily[] = COMMAND_FAMILIES): Promise<void> {
  const word = findCommandWord(args);
  if (word !== undefined && coreWords.includes(word)) return;
  const own = families.find((f) => word !== undefined && f.words.includes(word));
  for (const family of own === undefined ? families : [own]) (await family.load())(program);
}
