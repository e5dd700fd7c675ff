/** The CLI's root logger and log levels: the same ones every process of meshlet uses (`src/ops/root-logger.ts`). */
export { createRootLogger, LOG_LEVELS } from '../ops/root-logger.js';
