/**
 * Gives the memory a proxy freed back to the kernel once it goes idle.
 *
 * Two kinds of memory stay after a burst of load:
 * - glibc's malloc arenas: Node allocates a Buffer per socket read and TLS record outside V8's
 *   heap, and freed chunks stay in the arenas, counted in the process's RSS, until a
 *   `malloc_trim(0)` returns them (measured: an agent idle after the bench's HTTP load held
 *   15 MiB more private memory without it; docs/performance.md, "Memory per process");
 * - V8's young generation: under load V8 grows it to its cap (two semi-spaces: 2 x 16 MiB on
 *   Node 20, 2 x 64 MiB on Node 24 on a large host) and never shrinks it again by itself, idle
 *   or not: a Node 24 agent idle after the bench's load kept 135 MiB of heap for 15-20 MiB of
 *   live objects. A memory-reducing collection (V8's low-memory notification, through the
 *   inspector's `HeapProfiler.collectGarbage`: a public API, no flag) shrinks it back to 1 MiB.
 *
 * A trim walks the arenas: 3-8 ms right after a load, 0.1-0.2 ms when there is nothing to give
 * back; it runs on the first idle period after a busy one (idle: the loop busy under 5% of a 2 s
 * period). The heap release is a full collection: tens of milliseconds (40-150 ms measured on
 * this project's loaded 2-core machine), a stall for whatever arrives meanwhile, and the young
 * generation then grows again from 1 MiB when the next load comes, which costs that load CPU
 * (measured: a load starting a few seconds after a release did a fifth fewer HTTP requests per
 * CPU second). So it waits for a long rest: only after {@link HEAP_RELEASE_IDLE_MS} of
 * uninterrupted idleness, once per such stretch, and only when V8 holds at least
 * {@link HEAP_SLACK_BYTES} more than its live objects. Traffic whose pauses are shorter never
 * pays it; a process under steady light load never trims again; it frees little.
 */
import { Session } from 'node:inspector';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { mallocTrim } from './libc.js';

/** The period over which idleness is judged: a load that just ended is trimmed within 2-4 s. */
export const IDLE_TRIM_PERIOD_MS = 2_000;
/** Idle: the loop was busy under 5% of the period (an idle agent's timers and scrapes stay below). */
export const IDLE_UTILIZATION = 0.05;

/** The heap release runs only when V8 holds at least this much more than its live objects. */
export const HEAP_SLACK_BYTES = 16 * 1048576;
/** The heap is released only after the loop has been idle this long without a break. */
export const HEAP_RELEASE_IDLE_MS = 30_000;

/** V8's heap now: what it holds (`heapTotal`) and what live objects take of it (`heapUsed`). */
export interface HeapNow {
  readonly heapTotal: number;
  readonly heapUsed: number;
}

/**
 * Whether to release V8's heap now: idle for {@link HEAP_RELEASE_IDLE_MS} without a break
 * (`idleMs`), not yet released in this idle stretch, and enough held beyond the live objects
 * to be worth a full collection.
 */
export function heapReleaseDecision(heap: HeapNow, idleMs: number, releasedThisStretch: boolean, restMs = HEAP_RELEASE_IDLE_MS): boolean {
  if (releasedThisStretch || idleMs < restMs) return false;
  return heap.heapTotal - heap.heapUsed >= HEAP_SLACK_BYTES;
}

/**
 * A memory-reducing full collection (V8's low-memory notification: it also shrinks the young
 * generation and gives its pages back), through an in-process inspector session opened for
 * it alone. Calls `done` when it has run, or failed (an error is only logged by the caller's
 * choice: nothing depends on it).
 */
export function releaseHeap(done: (err?: Error) => void = () => undefined): void {
  const session = new Session();
  try {
    session.connect();
  } catch (err) {
    done(err as Error);
    return;
  }
  session.post('HeapProfiler.collectGarbage', (err) => {
    // Not from inside the inspector's dispatch: a disconnect there hangs the event loop
    // (Node 20 and 24 alike; test/unit/ops/idle-trim.test.ts runs timers after it).
    setImmediate(() => {
      session.disconnect();
      done(err ?? undefined);
    });
  });
}

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
  /** The heap release (default {@link releaseHeap}); `null`: never. */
  readonly releaseHeap?: ((done: () => void) => void) | null;
  readonly heap?: () => HeapNow;
  /** The rest before a heap release (default {@link HEAP_RELEASE_IDLE_MS}). */
  readonly releaseIdleMs?: number;
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
 * Starts giving freed memory back when idle (an unref'd timer: it never keeps the process
 * alive): V8's heap when {@link heapReleaseDecision} says so, then malloc's arenas. Returns a
 * stop function; does nothing where there is no `malloc_trim`.
 */
export function startIdleTrim(opts: IdleTrimOptions = {}): () => void {
  const native = mallocTrim();
  const trim = opts.trim ?? (native === undefined ? undefined : () => void native(0));
  if (trim === undefined) return () => undefined;
  const release = opts.releaseHeap === undefined ? releaseHeap : opts.releaseHeap;
  const heap = opts.heap ?? ((): HeapNow => {
    const h = getHeapStatistics();
    return { heapTotal: h.total_heap_size, heapUsed: h.used_heap_size };
  });
  const restMs = opts.releaseIdleMs ?? HEAP_RELEASE_IDLE_MS;
  const periodMs = opts.periodMs ?? IDLE_TRIM_PERIOD_MS;
  const utilization = opts.utilization ?? utilizationMeter();
  let state: TrimState = { busySinceTrim: true };
  let idleMs = 0;
  let releasedThisStretch = false;
  let releasing = false;
  const timer = setInterval(() => {
    const u = utilization();
    const d = trimDecision(state, u);
    state = d.next;
    if (u >= IDLE_UTILIZATION) {
      idleMs = 0;
      releasedThisStretch = false;
    } else {
      idleMs += periodMs;
    }
    if (releasing) return;
    // The heap is read only once the rest is long enough: a busy loop pays nothing for this.
    if (release !== null && idleMs >= restMs && heapReleaseDecision(heap(), idleMs, releasedThisStretch, restMs)) {
      // The collection frees malloc'd memory too (Buffers' backing stores): trim after it.
      releasing = true;
      releasedThisStretch = true;
      release(() => {
        releasing = false;
        trim();
      });
      return;
    }
    if (d.trim) trim();
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
