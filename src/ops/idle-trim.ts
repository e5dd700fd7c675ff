/**
 * Gives the memory a proxy freed back to the kernel once it goes idle. Node allocates a Buffer
 * per socket read and TLS record outside V8's heap, through glibc's malloc; after a burst of
 * load, freed chunks stay in malloc's arenas, counted in the process's RSS, until a
 * `malloc_trim(0)` returns them (measured: an agent idle after the bench's HTTP load held 15 MiB
 * more private memory without it; docs/performance.md, "Memory per process").
 *
 * A trim walks the arenas: 3-8 ms right after a load, 0.1-0.2 ms when there is nothing to
 * give back. So it runs only when the event loop was idle for a whole period, and once per
 * idle stretch: the first idle period after a busy one (or after the start) trims, later idle
 * periods do not. A process under steady light load never trims again; it frees little.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { mallocTrim } from './libc.js';

/** The period over which idleness is judged: a load that just ended is trimmed within 2-4 s. */
export const IDLE_TRIM_PERIOD_MS = 2_000;
/** Idle: the loop was busy under 5% of the period (an idle agent's timers and scrapes stay below). */
export const IDLE_UTILIZATION = 0.05;

/** What the trimmer remembers between periods. */
export interface TrimState {
  /** Whether the loop was busy since the last trim (true at start: start-up's garbage is freed too). */
  readonly busySinceTrim: boolean;
}

/** Whether to trim after a period of `utilization`, and the state after it. */
export function trimDecision(state: TrimState, utilization: number): { trim: boolean; next: TrimState } {
  if (utilization >= IDLE_UTILIZATION) return { trim: false, next: { busySinceTrim: true } };
  return { trim: state.busySinceTrim, next: { busySinceTrim: false } };
}

/** Options of {@link startIdleTrim} (tests give their own). */
export interface IdleTrimOptions {
  readonly trim?: (() => void) | undefined;
  readonly utilization?: (() => number) | undefined;
  readonly periodMs?: number;
}

/** Loop utilization since the previous call. */
function utilizationMeter(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

/**
 * Starts trimming this process's malloc heap when idle (an unref'd timer: it never keeps the
 * process alive). Returns a stop function; does nothing where there is no `malloc_trim`.
 */
export function startIdleTrim(opts: IdleTrimOptions = {}): () => void {
  const native = mallocTrim();
  const trim = opts.trim ?? (native === undefined ? undefined : () => void native(0));
  if (trim === undefined) return () => undefined;
  const utilization = opts.utilization ?? utilizationMeter();
  let state: TrimState = { busySinceTrim: true };
  const timer = setInterval(() => {
    const d = trimDecision(state, utilization());
    state = d.next;
    if (d.trim) trim();
  }, opts.periodMs ?? IDLE_TRIM_PERIOD_MS);
  timer.unref();
  return () => clearInterval(timer);
}
