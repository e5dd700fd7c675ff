/**
 * Progress of a long operation (`meshlet lab up`, `meshlet check`) on a terminal: one line on
 * stderr naming the step under way, with a spinner and the seconds it has taken, rewritten in
 * place; each finished step is left as `✔ step (1.2s)`, a failed one as `✖ step (3.0s)`, or,
 * for a transient progress (`check`, whose own ✔/✖ lines follow), erased.
 * Only when stderr is a terminal (not `TERM=dumb`): through a pipe, in a file or under CI
 * nothing is written, so stdout and stderr read as before. stdout is never touched: `-o json`
 * stays clean either way.
 */
import { processIo } from './admin-client.js';
import { paint, type OutputIo } from './output.js';

/** Where progress goes, with whether colours are wanted there. */
export interface ProgressSink {
  readonly write: (text: string) => void;
  readonly color: boolean;
  /** The terminal's width: a running line longer than this would wrap, and wrapped rows are not rewritten. */
  readonly columns?: number;
}

/** Spinner frames (braille, as npm and cargo use); one per {@link TICK_MS}. */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;
/** Fast enough to look alive, slow enough to cost nothing (4 writes a second). */
const TICK_MS = 250;
/** Carriage return and erase-line: the step's line is rewritten in place. */
const REWRITE = '\r\x1b[K';

/** Options of a {@link Progress}. */
export interface ProgressOptions {
  /** The clock (tests pass theirs). */
  readonly now?: () => number;
  /** Redraw the line with a timer (default true; tests draw only at each step). */
  readonly spin?: boolean;
  /** Erase finished steps instead of leaving their line. */
  readonly transient?: boolean;
}

/** The line of a step under way, cut to fit `columns` (with an ellipsis) when given. Pure. */
export function runningLine(label: string, elapsedMs: number, tick: number, columns?: number): string {
  const time = seconds(elapsedMs);
  // frame, space, label, space, time; one column kept free so the cursor never wraps
  const room = columns === undefined ? Infinity : columns - 1 - 2 - 1 - time.length;
  const shown = [...label].length <= room ? label : `${[...label].slice(0, Math.max(0, room - 1)).join('')}…`;
  return `${REWRITE}${FRAMES[tick % FRAMES.length] ?? ''} ${shown} ${time}`;
}

/** The line a finished step leaves. Pure. */
export function finishedLine(label: string, elapsedMs: number, ok: boolean, color: boolean): string {
  const mark = ok ? paint(color, 'green', '✔') : paint(color, 'red', '✖');
  return `${REWRITE}${mark} ${label} (${seconds(elapsedMs)})\n`;
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/**
 * The progress of one operation. Without a sink (not a terminal) every call does nothing, so
 * callers report steps unconditionally.
 */
export class Progress {
  private label: string | undefined;
  private started = 0;
  private tick = 0;
  private timer: NodeJS.Timeout | undefined;

  private readonly now: () => number;

  constructor(
    private readonly sink: ProgressSink | undefined,
    private readonly options: ProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Starts `label`; the step under way, if any, is finished as done. */
  step(label: string): void {
    if (this.sink === undefined) return;
    this.finish(true);
    this.label = label;
    this.started = this.now();
    this.tick = 0;
    this.draw();
    if (this.options.spin !== false) {
      this.timer = setInterval(() => this.draw(), TICK_MS);
      this.timer.unref(); // progress never keeps the process alive
    }
  }

  /** Finishes the step under way as done (`ok`) or failed. */
  finish(ok: boolean): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.sink === undefined || this.label === undefined) return;
    this.sink.write(this.options.transient === true ? REWRITE : finishedLine(this.label, this.now() - this.started, ok, this.sink.color));
    this.label = undefined;
  }

  private draw(): void {
    if (this.sink === undefined || this.label === undefined) return;
    this.sink.write(runningLine(this.label, this.now() - this.started, this.tick++, this.sink.columns));
  }
}

/**
 * The progress sink of `io`: the real process's stderr when it is a terminal and `TERM` is not
 * `dumb`; a test's io when it says it is a terminal (its stderr then). Colours as the output's
 * rule (`NO_COLOR`, `--no-color`).
 */
export function progressSink(io: OutputIo, colorFlag?: boolean): ProgressSink | undefined {
  const real = io === processIo;
  const tty = real ? process.stderr.isTTY === true : io.terminal?.isTTY === true;
  const env = real ? process.env : (io.terminal?.env ?? {});
  if (!tty || env['TERM'] === 'dumb') return undefined;
  const noColor = env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '';
  const columns = real ? process.stderr.columns : io.terminal?.columns;
  return {
    write: real ? (t) => process.stderr.write(t) : io.stderr,
    color: colorFlag !== false && !noColor,
    ...(columns === undefined || columns <= 0 ? {} : { columns }),
  };
}
