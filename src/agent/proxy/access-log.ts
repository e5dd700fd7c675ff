/**
 * Access-log modes: one JSON line per connection at close and per HTTP request (`on`, the
 * default), none (`off`), or a sample (`sample:<ratio>`). A sample keeps every connection that
 * did not end `ok` and every failed request (`request-log.ts`): failures are rare and the ones
 * an SRE looks for; only successes are thinned.
 */
import type { ConnectionOutcome } from '../policy/outcomes.js';

/** How many connections get an access-log line. */
export type AccessLogMode =
  | { readonly kind: 'on' }
  | { readonly kind: 'off' }
  | { readonly kind: 'sample'; readonly ratio: number };

/** Parses `on`, `off` or `sample:<ratio>` (0 < ratio <= 1); a string saying what is wrong otherwise. */
export function parseAccessLogMode(value: string): AccessLogMode | string {
  if (value === 'on' || value === 'off') return { kind: value };
  const m = /^sample:(.+)$/.exec(value);
  if (m === null) return 'must be on, off or sample:<ratio>';
  const ratio = Number(m[1]);
  if (!Number.isFinite(ratio) || ratio <= 0 || ratio > 1) return 'the sample ratio must be a number in (0, 1]';
  return { kind: 'sample', ratio };
}

/** The mode as the flag spells it. */
export function formatAccessLogMode(mode: AccessLogMode): string {
  return mode.kind === 'sample' ? `sample:${mode.ratio}` : mode.kind;
}

/** Decides, per closed connection or finished request, whether it gets a line. */
export class AccessLogSampler {
  private readonly mode: AccessLogMode;
  private readonly random: () => number;

  /** `random` is injectable so tests can pin the draw. */
  constructor(mode: AccessLogMode, random: () => number = Math.random) {
    this.mode = mode;
    this.random = random;
  }

  /** True when this connection's line is written. */
  shouldLog(outcome: ConnectionOutcome): boolean {
    return this.keep(outcome === 'ok');
  }

  /**
   * True when a line is written for an event (a connection or a request) that succeeded (`ok`)
   * or not: a sample keeps every failure and draws for successes.
   */
  keep(ok: boolean): boolean {
    switch (this.mode.kind) {
      case 'on':
        return true;
      case 'off':
        return false;
      case 'sample':
        return !ok || this.random() < this.mode.ratio;
    }
  }
}
