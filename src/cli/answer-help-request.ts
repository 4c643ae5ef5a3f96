// Hooks run with arguments the batch system builds from hostile job attributes (a job name may be
// "--help"): only a lone --help or -h asks for usage, and it is answered before any config is read.
export function isHelpRequest(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h');
}

// Prints the usage and ends the process, so nothing after it (config, services, files) is touched.
export function answerHelpRequest(argv: readonly string[], usage: string): void {
  if (!isHelpRequest(argv)) return;
  process.stdout.write(usage.endsWith('\n') ? usage : `${usage}\n`);
  process.exit(0);
}
