import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The one root logger of a process: JSON lines on stdout, no transports (a transport would run
 * a worker thread beside the data path). Components take `logger.child({ component })` once.
 */
export function createRootLogger(level: LevelWithSilent, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
