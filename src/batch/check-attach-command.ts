import { invalidField } from '../core/ve-error.js';

// qsub -I -x hands its words to a shell on the host, and ssh's ProxyCommand to one on the submit host: only
// words no shell reads specially (and no option-looking first word) pass.
const ATTACH_WORD = /^[A-Za-z0-9_./+=,:%@-]+$/;

/** the command of an AttachRequest: words of [A-Za-z0-9_./+=,:%@-], the first not an option */
export function checkAttachCommand(command: readonly string[]): void {
  if (command.length === 0 || command[0]?.startsWith('-') === true) throw invalidField('command', 'must start with a program, not an option', command[0] ?? '');
  for (const word of command) {
    if (!ATTACH_WORD.test(word)) throw invalidField('command', 'each word may only hold letters, digits and _./+=,:%@-', word.slice(0, 80));
  }
}
