// `ve` loads a command family only when its word is asked for: the words table must say exactly what each
// family registers (a wrong word would be an "unknown command"), and help or unknown words still see all.
import t from 'tap';
import { Command } from 'commander';
import { COMMAND_FAMILIES, findCommandWord, registerCommandFamilies, type CommandFamily } from '../../src/cli/register-command-families.js';

const CORE = ['create', 'list', 'show', 'destroy'];

void t.test('each family registers exactly its words, and no two families share one', async (t) => {
  const seen = new Set<string>(CORE);
  for (const family of COMMAND_FAMILIES) {
    const program = new Command('ve');
    (await family.load())(program);
    t.same(program.commands.map((c) => c.name()).sort(), [...family.words].sort(), `family of ${family.words[0] ?? '?'}`);
    for (const w of family.words) {
      t.notOk(seen.has(w), `${w} belongs to one family`);
      seen.add(w);
    }
  }
});

void t.test('the command word is the first argument, unless it is an option', (t) => {
  t.equal(findCommandWord(['create', 'web1', '--type', 'lxc']), 'create');
  t.equal(findCommandWord(['--help']), undefined);
  t.equal(findCommandWord(['-h', 'snapshot']), undefined, 've -h snapshot is the program\'s help: every family');
  t.equal(findCommandWord([]), undefined);
  t.end();
});

// stand-in families that count their loads
function countingFamilies(loaded: string[]): CommandFamily[] {
  return [['alpha'], ['beta', 'gamma']].map((words) => ({
    words,
    load: () => {
      loaded.push(words[0] ?? '?');
      return Promise.resolve((program: Command) => { for (const w of words) program.command(w); });
    },
  }));
}

void t.test('a core word loads no family, a family word its own, anything else all of them in order', async (t) => {
  const cases: [string[], string[]][] = [
    [['create', 'x'], []],
    [['gamma', '--json'], ['beta']],
    [['alpha'], ['alpha']],
    [['--help'], ['alpha', 'beta']],
    [[], ['alpha', 'beta']],
    [['bogus'], ['alpha', 'beta']],
    [['help', 'alpha'], ['alpha', 'beta']],
    [['--help', 'create'], ['alpha', 'beta']],
  ];
  for (const [args, expected] of cases) {
    const loaded: string[] = [];
    const program = new Command('ve');
    await registerCommandFamilies(program, args, ['create'], countingFamilies(loaded));
    t.same(loaded, expected, args.join(' ') || '(no arguments)');
  }
});
