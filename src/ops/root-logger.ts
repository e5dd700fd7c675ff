import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * How stdout is written. A synchronous write(2) per line (pino's default) would stall the
 * event loop, and every connection with it, whenever the log reader stalls (a full pipe). So
 * lines are written in the background: at once when no write is in flight, and while one is,
 * the lines that come meanwhile are gathered and written together (under load, a few writes
 * instead of one per line); what is pending when the process exits (a crash included) is
 * written synchronously then. A reader that falls behind by more than
 * {@link MAX_PENDING_BYTES} loses lines rather than the agent growing without bound: the loss
 * is counted and said on stdout once the reader catches up.
 */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** How often dropped lines are reported (only when some were dropped). */
export const DROP_REPORT_INTERVAL_MS = 5_000;

/** The stdout destination of a root logger, with what it had to drop. */
export interface BufferedStdout extends DestinationStream {
  /** Lines dropped since the last report (the reader was more than {@link MAX_PENDING_BYTES} behind). */
  readonly dropped: { lines: number; bytes: number };
}

/** A stdout destination as described above (`fd` for tests: another descriptor). */
export function bufferedStdout(fd = 1, opts: { maxPendingBytes?: number } = {}): BufferedStdout {
  const stream = pino.destination({ dest: fd, sync: false, minLength: 0, maxLength: opts.maxPendingBytes ?? MAX_PENDING_BYTES });
  const dropped = { lines: 0, bytes: 0 };
  stream.on('drop', (data: string | Buffer) => {
    dropped.lines += 1;
    dropped.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  });
  return Object.assign(stream, { dropped });
}

/**
 * The one root logger of a process: JSON lines on stdout, no transports (a transport would run
 * a worker thread beside the data path), written as {@link bufferedStdout} says. Components
 * take `logger.child({ component })` once.
 */
export function createRootLogger(level: LevelWithSilent, base: Record<string, unknown> = {}, destination: BufferedStdout = bufferedStdout()): Logger {
  const logger = pino(
    {
      level,
      base: { pid: process.pid, ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const report = setInterval(() => {
    const { dropped } = destination;
    if (dropped.lines === 0) return;
    logger.warn({ droppedLines: dropped.lines, droppedBytes: dropped.bytes }, 'log lines dropped: stdout was not read fast enough');
    dropped.lines = 0;
    dropped.bytes = 0;
  }, DROP_REPORT_INTERVAL_MS);
  report.unref();
  return logger;
}
