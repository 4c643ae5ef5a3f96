// What an installer did (or, with --dry-run, would do): one line per file, so an admin can audit it.

export type InstallAction = 'create' | 'update' | 'unchanged' | 'move-aside' | 'restore' | 'remove' | 'append' | 'keep' | 'manual' | 'run';

export interface InstallStep {
  readonly path: string;
  readonly action: InstallAction;
  readonly detail: string;
}

export interface InstallReport {
  readonly dryRun: boolean;
  readonly steps: readonly InstallStep[];
}

// Dry runs and real runs print the same lines, so what was previewed is what happens.
export function formatInstallReport(report: InstallReport): string {
  const lines = report.steps.map((s) => `${report.dryRun && s.action !== 'manual' && s.action !== 'keep' ? 'would ' : ''}${s.action.padEnd(10)} ${s.path}${s.detail === '' ? '' : `: ${s.detail}`}`);
  if (report.dryRun) lines.push('(dry run: nothing was changed)');
  return lines.join('\n');
}
