import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * How stdout is written. A data-path agent logs a line per request: a write(2) per line costs
 * a syscall each (a few per cent of an agent's CPU at L7), and a synchronous write to a log
 * reader that stalls (a full pipe) would stall the event loop and every connection with it.
 * So lines are gathered and written in the background (Envoy's access log is buffered too):
 * at least {@link MIN_WRITE_BYTES} at a time, and whatever is pending every
 * {@link FLUSH_INTERVAL_MS}; what is pending when the process exits (a crash included) is
 * written synchronously then. A reader that falls behind by more than {@link MAX_PENDING_BYTES}
 * loses lines rather than the agent growing without bound: the loss is counted and said on
 * stdout once the reader catches up.
 */
export const MIN_WRITE_BYTES = 4096;
export const FLUSH_INTERVAL_MS = 250;
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** How often dropped lines are reported (only when some were dropped). */
export const DROP_REPORT_INTERVAL_MS = 5_000;

/** The stdout destination of a root logger, with what it had to drop. */
export interface BufferedStdout extends DestinationStream {
  /** Lines dropped since the last report (the reader was more than {@link MAX_PENDING_BYTES} behind). */
  readonly dropped: { lines: number; bytes: number };
}

/** A stdout destination as described above (`fd` for tests: another descriptor). */
export function bufferedStdout(fd = 1, opts: { maxPendingBytes?: number; minWriteBytes?: number; flushIntervalMs?: number } = {}): BufferedStdout {
  const stream = pino.destination({
    dest: fd,
    sync: false,
    minLength: opts.minWriteBytes ?? MIN_WRITE_BYTES,
    maxLength: opts.maxPendingBytes ?? MAX_PENDING_BYTES,
    periodicFlush: opts.flushIntervalMs ?? FLUSH_INTERVAL_MS,
  });
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
