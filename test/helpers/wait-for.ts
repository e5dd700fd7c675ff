/**
 * Polling for a condition in tests, bounded in time: resolves with the probe's first truthy
 * value, or rejects naming what was awaited (and the last value seen, to debug a failure).
 */

/** How long {@link waitFor} waits by default (30 s: the condition, not the bound, ends a passing wait). */
export const WAIT_FOR_DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /**
   * Give up after this long. Default {@link WAIT_FOR_DEFAULT_TIMEOUT_MS}: generous, so that a
   * loaded 2-core machine is slow but not failing; a passing test never waits this long.
   */
  readonly timeoutMs?: number;
  /** Time between probes. Default 10 ms. */
  readonly intervalMs?: number;
}

/** Calls `probe` until it returns something truthy; rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? WAIT_FOR_DEFAULT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  const maxProbes = Math.ceil(timeoutMs / intervalMs) + 1;
  let last: T | undefined;
  for (let i = 0; i < maxProbes; i++) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
