// Waits never happen in silence: on a terminal one line says what `ve` waits for and for how long.
export interface ProgressLine {
  readonly show: (what: string) => void;
  readonly done: () => void;
}

/** how often the line is redrawn at most */
const REDRAW_MS = 500;

// Only a terminal gets the line (scripts and --json read clean output); it is cleared when the wait ends.
export function createProgressLine(stream: NodeJS.WriteStream, enabled: boolean): ProgressLine {
  if (!enabled || !stream.isTTY) return { show: () => undefined, done: () => undefined };
  let last = 0;
  let shown = false;
  return {
    show: (what) => {
      const now = Date.now();
      if (now - last < REDRAW_MS) return;
      last = now;
      shown = true;
      const width = Math.max(20, (stream.columns || 80) - 1);
      stream.write(`\r\x1b[K${what.slice(0, width)}`);
    },
    done: () => {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
