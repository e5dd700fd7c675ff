/**
 * Run-time log levels, per component. pino children copy their level when they are made and
 * do not follow the root afterwards, so changing a level later means keeping every component's
 * child logger here (component -> logger) and setting each one.
 */
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';

/** Levels a logger can be set to at run time. */
export const RUNTIME_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The root logger and one child per component, made once. */
export class LogLevels {
  readonly root: Logger;
  private readonly children = new Map<string, Logger>();

  constructor(root: Logger) {
    this.root = root;
  }

  /** The component's child logger, made on first use and kept so its level can change later. */
  child(component: string): Logger {
    let logger = this.children.get(component);
    if (logger === undefined) {
      logger = this.root.child({ component });
      this.children.set(component, logger);
    }
    return logger;
  }

  /**
   * Sets the level of one component, or of the root and every component when none is named.
   * @throws MeshletError MESHLET_ERR_CONFIG_INVALID for an unknown level or component.
   */
  set(level: string, component?: string): void {
    if (!RUNTIME_LEVELS.includes(level)) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `level=${JSON.stringify(level)}: must be one of ${RUNTIME_LEVELS.join(', ')}`);
    }
    if (component === undefined) {
      this.root.level = level;
      for (const logger of this.children.values()) logger.level = level;
      return;
    }
    const logger = this.children.get(component);
    if (logger === undefined) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `component=${JSON.stringify(component)}: unknown; known: ${[...this.children.keys()].sort().join(', ')}`);
    }
    logger.level = level;
  }

  /** The root level and each component's level. */
  levels(): { root: string; components: Record<string, string> } {
    const components: Record<string, string> = {};
    for (const [name, logger] of [...this.children].sort(([a], [b]) => a.localeCompare(b))) components[name] = logger.level;
    return { root: this.root.level, components };
  }
}
