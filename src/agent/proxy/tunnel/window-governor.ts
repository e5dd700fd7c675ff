/**
 * Smaller receive windows for tunnel sessions that have been bulk while another session was
 * active (issue 18, docs/performance.md "Fairness between workloads"). Sessions are per source
 * workload (`TunnelPool`'s key), so a flooding workload's bytes arrive on a session of their
 * own; but a data-path process handles, in one event-loop turn, everything that session's
 * socket holds, and with a 16 MiB connection window (which Node gives back as soon as bytes
 * reach nghttp2) that is hundreds of kilobytes per turn: a quiet workload's request, ready on
 * another session, waits for the whole turn. Measured: with the session window at one stream
 * window the quiet pod's p50 under an 8-stream bulk flood fell from 78x to 30x its alone figure.
 *
 * A window that small for every session costs single-flow throughput, so it applies only under
 * contention: on each tick, a session that read at least {@link BULK_BYTES_PER_SECOND} over the
 * tick while another session read anything gets {@link CONTENDED_WINDOW_BYTES}; every other
 * session has (or gets back) the full {@link SESSION_WINDOW_BYTES}. A session alone keeps
 * today's window, whatever it carries. The decision is {@link decideWindows} (pure); the
 * governor only reads each session's socket byte counter per tick (no per-chunk work).
 *
 * @module
 */
import type { Http2Session } from 'node:http2';
import { SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from './settings.js';

/**
 * The window of a bulk session under contention: one stream window, so no single stream of it
 * gets less than its own window allows, and what one turn can find ready is bounded near it.
 */
export const CONTENDED_WINDOW_BYTES = STREAM_WINDOW_BYTES;

/**
 * A session reading this much per second is bulk: 8 MiB/s is about 8,000 answers of 1 KiB a
 * second, far above a request-response workload, far below the 60-120 MB/s one bulk flood
 * moves through an agent on the bench machine.
 */
export const BULK_BYTES_PER_SECOND = 8 * 1024 * 1024;

/** How often the windows are decided: often enough to react within a second, rarely enough to cost nothing. */
export const GOVERNOR_TICK_MS = 500;

/** One session over one tick. */
export interface WindowSample {
  /** Bytes read from its socket over the tick. */
  readonly bytes: number;
}

/**
 * The window each session should have, given what each read over a tick of `tickMs`. Pure.
 * Contended: at least two sessions read something; then a session at the bulk rate or above
 * gets {@link CONTENDED_WINDOW_BYTES}, the others {@link SESSION_WINDOW_BYTES}.
 */
export function decideWindows(samples: readonly WindowSample[], tickMs: number): number[] {
  const active = samples.filter((s) => s.bytes > 0).length;
  const bulkBytes = (BULK_BYTES_PER_SECOND * tickMs) / 1000;
  return samples.map((s) => (active >= 2 && s.bytes >= bulkBytes ? CONTENDED_WINDOW_BYTES : SESSION_WINDOW_BYTES));
}

/** What the governor keeps per session. */
interface Governed {
  lastBytes: number;
  window: number;
}

/** Bytes read so far by a session's socket (0 when it cannot be read: such a session is never bulk). */
function socketBytesRead(session: Http2Session): number {
  const n = (session.socket as { bytesRead?: unknown } | undefined)?.bytesRead;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/** Decides the receive windows of a process's tunnel sessions (client and server side) every tick. */
export class WindowGovernor {
  private readonly sessions = new Map<Http2Session, Governed>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;
  /** Windows shrunk so far (tests and the docs' figures read it). */
  shrinks = 0;

  constructor(tickMs: number = GOVERNOR_TICK_MS) {
    this.tickMs = tickMs;
  }

  /** Governs `session` from now until it closes (it starts with the full window). */
  add(session: Http2Session): void {
    if (session.destroyed || this.sessions.has(session)) return;
    this.sessions.set(session, { lastBytes: socketBytesRead(session), window: SESSION_WINDOW_BYTES });
    session.once('close', () => this.sessions.delete(session));
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /** One decision over every live session (the timer calls it; tests may too). */
  tick(): void {
    if (this.sessions.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const list = [...this.sessions];
    const samples = list.map(([session, g]) => {
      const now = socketBytesRead(session);
      const bytes = now > g.lastBytes ? now - g.lastBytes : 0;
      g.lastBytes = now;
      return { bytes };
    });
    const windows = decideWindows(samples, this.tickMs);
    for (let i = 0; i < list.length; i += 1) {
      const [session, g] = list[i] as [Http2Session, Governed];
      const want = windows[i] as number;
      if (want === g.window || session.destroyed || session.closed) continue;
      try {
        session.setLocalWindowSize(want);
        if (want < g.window) this.shrinks += 1;
        g.window = want;
      } catch {
        // The session is closing: nothing to tune.
      }
    }
  }

  /** Stops the timer and forgets the sessions. Idempotent. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sessions.clear();
  }
}
