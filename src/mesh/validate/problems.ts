/**
 * The one problem collector. Validation never stops at the first problem: every check reports
 * into a collector, and the caller turns the collected lines into one MeshletError at the end,
 * so a user fixes a whole file (or command line) in one round.
 */
import { MeshletError, type MeshletErrorCode } from '../errors.js';
import { formatPath, type FieldPath } from './values.js';

/** Where field readers report: {@link Problems}, or a parser's located view such as the objects `Reporter`. */
export interface ProblemSink {
  /** Records one problem at a field path. */
  report(path: FieldPath, message: string): void;
}

/**
 * Lines kept in full by default; past this only the count grows. A list this long is already
 * more than anyone reads, and an attacker-sized input must not make an attacker-sized error.
 */
export const DEFAULT_MAX_PROBLEMS = 100;

/** Collects `path: message` lines, up to a cap, and counts every problem. */
export class Problems implements ProblemSink {
  readonly lines: string[] = [];
  /** Every problem recorded, including those past the cap. */
  total = 0;

  /** @param max lines kept in full (the rest are only counted) */
  constructor(readonly max = DEFAULT_MAX_PROBLEMS) {}

  /** Records `message` for the field at `path` (already rendered: `cluster.workloads[3].uid`). */
  add(path: string, message: string): void {
    this.total += 1;
    if (this.lines.length < this.max) this.lines.push(`${path}: ${message}`);
  }

  /** Records `message` for the field at `path` (rendered as `spec.ports[1].name`). */
  report(path: FieldPath, message: string): void {
    this.add(formatPath(path), message);
  }

  /** Records a bad setting with its value: `--bind="nope": must be an IP address`. */
  setting(name: string, value: unknown, why: string): void {
    this.add(`${name}=${JSON.stringify(value)}`, why);
  }

  /** True while nothing was recorded. */
  get empty(): boolean {
    return this.total === 0;
  }

  /**
   * One MeshletError listing the lines under `heading` (`invalid agent configuration:` then one
   * indented line each, and `... and N more` past the cap); `details` holds the kept lines.
   */
  toError(code: MeshletErrorCode, heading: string): MeshletError {
    const more = this.total > this.lines.length ? `\n  ... and ${this.total - this.lines.length} more` : '';
    return new MeshletError(code, `${heading}:\n  ${this.lines.join('\n  ')}${more}`, { details: [...this.lines] });
  }

  /** Throws {@link toError} when anything was recorded. */
  throwIfAny(code: MeshletErrorCode, heading: string): void {
    if (this.total > 0) throw this.toError(code, heading);
  }
}
