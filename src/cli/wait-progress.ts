// A wait the user can see: on a terminal one updating line (what it waits for, the latest news, how
// long so far); elsewhere nothing, so scripts and logs get only the command's result.

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface WaitProgress {
  /** the latest news about the wait (e.g. "pending: Resources"); redrawn at once */
  update(detail: string): void;
  /** ends the line with the outcome; the progress is silent afterwards */
  finish(outcome: string): void;
}

/** what one redraw shows: "waiting for VE web1 to run: pending (Resources), 12 s" */
export function formatWaitLine(what: string, detail: string, elapsedMs: number): string {
  const seconds = Math.floor(elapsedMs / 1000);
  const elapsed = seconds < 120 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `waiting for ${what}${detail === '' ? '' : `: ${detail}`}, ${elapsed}`;
}

/** A progress that shows nothing: for --json, non-terminals, and callers that do not wait. */
export const silentProgress: WaitProgress = { update: () => undefined, finish: () => undefined };

// One line redrawn in place once a second (\r + erase line); the timer never keeps the process alive.
export function startWaitProgress(what: string, stream: ProgressStream = process.stderr, now: () => number = Date.now): WaitProgress {
  if (stream.isTTY !== true) return silentProgress;
  const started = now();
  let detail = '';
  let over = false;
  const draw = (): void => { if (!over) stream.write(`\r\u001b[K${formatWaitLine(what, detail, now() - started)}`); };
  const timer = setInterval(draw, 1000);
  timer.unref();
  draw();
  return {
    update(next: string) {
      detail = next;
      draw();
    },
    finish(outcome: string) {
      if (over) return;
      over = true;
      clearInterval(timer);
      const seconds = ((now() - started) / 1000).toFixed(1);
      stream.write(`\r\u001b[K${what}: ${outcome} after ${seconds} s\n`);
    },
  };
}
