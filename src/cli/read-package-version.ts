import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `ve --version` names the installed release: package.json sits three levels above dist/src/cli.
export function readPackageVersion(): string {
  const file = join(dirname(fileURLToPath(import.meta.url)), '../../../package.json');
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
    return typeof json.version === 'string' ? json.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
