/**
 * Splices two byte streams together both ways: a captured TCP socket and a tunnel stream, or
 * two TCP sockets. `pipe` does the copying with back-pressure and no per-chunk allocation of
 * ours; this module adds what a proxy needs around it:
 * - half-close: a FIN (socket `end`) or END_STREAM on one side ends the other side's writable
 *   half only, and the reverse direction keeps flowing (sockets must be `allowHalfOpen`);
 * - resets: a TCP RST or an abnormal HTTP/2 stream close on one side resets the other
 *   (RST_STREAM towards a tunnel, a TCP RST towards a socket), as ztunnel does;
 * - one completion callback when both sides have closed;
 * - an idle timeout: a connection that moved no byte either way for `idleTimeoutMs` (default
 *   {@link SPLICE_IDLE_TIMEOUT_MS}) is reset both ways, so a vanished peer cannot hold it (and
 *   its upstream socket) forever. Checked on one timer per connection that reads the socket
 *   side's byte counters, so the data path pays nothing per chunk.
 * - a per-turn byte budget per workload (`turn-budget.ts`) when one side is a tunnel stream:
 *   the workload is the stream's tunnel session, and once it has moved its budget in this
 *   event-loop turn while another workload is active, each of its sources pauses until the
 *   turn ends, so other workloads' ready sockets are served first (issue 18).
 * - a per-workload bandwidth limit (`bandwidth-throttle.ts`) when a side is a captured socket
 *   marked with its workload's throttle: each chunk either way is charged to the workload's byte
 *   bucket, and while the bucket is in debt the source pauses until the throttle's timer resumes
 *   it; a resume by anyone else ('drain', the turn budget) is undone while the debt lasts.
 *
 * Handlers are module-level functions that find their state through a symbol on the stream,
 * so a connection costs no closures (undici's pattern).
 */
import { constants as h2, type Http2Stream } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setLingerReset } from '../../ops/libc.js';
import { processTurnBudget, type TurnBudget, type WorkloadTurn } from './turn-budget.js';
import { throttleOf, throttleStream, type WorkloadThrottle } from './bandwidth-throttle.js';

/** How a spliced connection ended. */
export interface SpliceOutcome {
  /** True when either side was reset or failed rather than closing cleanly. */
  readonly reset: boolean;
  /** Which side failed first, if any. */
  readonly resetBy?: 'a' | 'b';
  /** The first error seen (ECONNRESET and friends are normal outcomes, not faults). */
  readonly error?: Error;
  /** The connection was reset by the idle timeout. */
  readonly idle?: true;
}

/** Options of {@link splice}. */
export interface SpliceOptions {
  /** Reset both sides after this long without a byte either way; 0 turns it off. */
  readonly idleTimeoutMs?: number;
  /**
   * The per-turn budget the tunnel side's session is charged to (default: the process's);
   * null turns it off. A splice of two sockets has no tunnel session and is not budgeted.
   */
  readonly turnBudget?: TurnBudget | null;
  /** The byte bucket both directions are charged to (default: the one a side was marked with, `attachThrottle`); null: none. */
  readonly throttle?: WorkloadThrottle | null;
}

/**
 * Default idle timeout of a spliced connection: one hour, Envoy's TCP proxy default. Long
 * enough for quiet but live protocols (database pools, message-queue consumers usually send
 * keepalives well within it); a connection idle longer is most likely a peer that vanished
 * without a FIN. An application needing more should use TCP keepalives or its own heartbeat.
 */
export const SPLICE_IDLE_TIMEOUT_MS = 60 * 60_000;

/**
 * The idle check runs this many times per idle timeout: a connection is reset between 1 and
 * 1.25 times the timeout after its last byte, at four timer firings per timeout.
 */
const IDLE_CHECKS_PER_TIMEOUT = 4;

let idleTimeouts = 0;

/** Spliced connections reset by their idle timeout in this process (read at scrape). */
export function spliceIdleTimeouts(): number {
  return idleTimeouts;
}

/** Called once both sides have closed. */
export type SpliceDone = (outcome: SpliceOutcome) => void;

const kSplice = Symbol('meshlet.splice');

interface Side extends Duplex {
  [kSplice]?: Splice;
}

class Splice {
  readonly a: Side;
  readonly b: Side;
  readonly done: SpliceDone;
  open = 2;
  reset = false;
  resetBy: 'a' | 'b' | undefined;
  error: Error | undefined;
  idle = false;
  /** The side whose byte counters tell activity (a TCP socket), if any. */
  probe: Socket | undefined;
  idleTimeoutMs = 0;
  lastBytes = 0;
  lastActive = 0;
  timer: NodeJS.Timeout | undefined;
  /** The budget and the workload (tunnel session) this connection's bytes are charged to. */
  budget: TurnBudget | undefined;
  turn: WorkloadTurn | undefined;

  constructor(a: Side, b: Side, done: SpliceDone) {
    this.a = a;
    this.b = b;
    this.done = done;
  }

  other(side: Side): Side {
    return side === this.a ? this.b : this.a;
  }

  fail(side: Side, err: Error | undefined): void {
    if (!this.reset) {
      this.reset = true;
      this.resetBy = side === this.a ? 'a' : 'b';
      this.error = err;
    }
    abort(this.other(side));
  }
}

/** Splices `a` and `b` both ways; `done` runs once, after both have closed. */
export function splice(a: Duplex, b: Duplex, done: SpliceDone, opts: SpliceOptions = {}): void {
  if (a.destroyed || b.destroyed) {
    // One side went away while the other was still being set up (a client that gave up
    // while the workload's accept queue was full): there is nothing to splice, and the side
    // still alive must not be left open.
    abort(a);
    abort(b);
    process.nextTick(done, { reset: true, resetBy: a.destroyed ? 'a' : 'b' } satisfies SpliceOutcome);
    return;
  }
  const s = new Splice(a, b, done);
  for (const side of [s.a, s.b]) {
    side[kSplice] = s;
    side.on('error', onSideError);
    side.on('close', onSideClose);
    if (side instanceof Socket) side.setNoDelay(true);
  }
  pipeOneWay(s.a, s.b);
  pipeOneWay(s.b, s.a);
  const throttle = opts.throttle === undefined ? throttleOf(a) ?? throttleOf(b) : opts.throttle ?? undefined;
  if (throttle !== undefined) {
    // Before the turn budget's listener: a source the throttle paused is not held by the budget
    // too (whose end of turn would resume it every turn).
    throttleStream(s.a, s.b, throttle);
    throttleStream(s.b, s.a, throttle);
  }
  const budget = opts.turnBudget === undefined ? processTurnBudget : opts.turnBudget;
  const session = isHttp2Stream(a) ? a.session : isHttp2Stream(b) ? b.session : undefined;
  if (budget !== null && session !== undefined) {
    s.budget = budget;
    s.turn = budget.workload(session);
    // After pipe's own listener: the chunk that uses up the budget is still written on.
    s.a.on('data', onBudgetData);
    s.b.on('data', onBudgetData);
  }
  // Sockets accepted with pauseOnConnect start paused; pipe() resumes them.
  const idleMs = opts.idleTimeoutMs ?? SPLICE_IDLE_TIMEOUT_MS;
  const probe = a instanceof Socket ? a : b instanceof Socket ? b : undefined;
  if (idleMs > 0 && probe !== undefined) {
    s.probe = probe;
    s.idleTimeoutMs = idleMs;
    s.lastBytes = probe.bytesRead + probe.bytesWritten;
    s.lastActive = performance.now();
    s.timer = setTimeout(onIdleCheck, Math.max(1, Math.floor(idleMs / IDLE_CHECKS_PER_TIMEOUT)), s);
    s.timer.unref();
  }
}

/** Charges a chunk to the connection's workload; pauses this source for the rest of the turn once it is over budget. */
function onBudgetData(this: Side, chunk: Buffer): void {
  const s = this[kSplice];
  if (s?.budget === undefined || s.turn === undefined) return;
  if (s.budget.charge(s.turn, chunk.length) && !this.isPaused()) {
    this.pause();
    s.budget.hold(this, s.other(this));
  }
}

/**
 * Every byte either way passes through the socket side (read from it or written to it), so
 * its two counters moving is activity; no per-chunk hook is needed.
 */
function onIdleCheck(s: Splice): void {
  const probe = s.probe;
  if (probe === undefined || s.open === 0) return;
  const bytes = probe.bytesRead + probe.bytesWritten;
  const now = performance.now();
  if (bytes !== s.lastBytes) {
    s.lastBytes = bytes;
    s.lastActive = now;
  } else if (now - s.lastActive >= s.idleTimeoutMs) {
    idleTimeouts += 1;
    s.idle = true;
    s.fail(s.a, IDLE);
    abort(s.a);
    return;
  }
  s.timer?.refresh();
}

/**
 * `src.pipe(dst)`, except that an HTTP/2 stream's end is not passed on blindly: Node ends a
 * stream's readable side (push(null)) when it receives RST_STREAM too, and passing that on
 * would turn a reset into a clean FIN, so a truncated upload would look complete.
 */
function pipeOneWay(src: Side, dst: Side): void {
  if (isHttp2Stream(src)) {
    src.pipe(dst, { end: false });
    src.on('end', onStreamEnd);
  } else {
    src.pipe(dst);
  }
}

function onStreamEnd(this: Side): void {
  const s = this[kSplice];
  if (s === undefined) return;
  if (streamWasReset(this as Http2Stream & Side)) s.fail(this, undefined);
  else s.other(this).end();
}

/**
 * A stream was reset when it carries a non-zero RST code, or when it closed before our own
 * writable side ended (`aborted`): a peer may reset with code NO_ERROR before END_STREAM
 * (Envoy does after an early response), and that is still not a clean end of the upload.
 */
function streamWasReset(stream: Http2Stream): boolean {
  const rst = stream.rstCode;
  return stream.aborted || (rst !== undefined && rst !== h2.NGHTTP2_NO_ERROR);
}

function onSideError(this: Side, err: Error): void {
  const s = this[kSplice];
  if (s !== undefined) s.fail(this, err);
}

function onSideClose(this: Side): void {
  const s = this[kSplice];
  if (s === undefined) return;
  if (!closedCleanly(this)) s.fail(this, undefined);
  s.open -= 1;
  if (s.open === 0) {
    if (s.timer !== undefined) clearTimeout(s.timer);
    const outcome: SpliceOutcome = s.reset
      ? { reset: true, ...(s.resetBy ? { resetBy: s.resetBy } : {}), ...(s.error ? { error: s.error } : {}), ...(s.idle ? { idle: true as const } : {}) }
      : { reset: false };
    s.done(outcome);
  } else {
    // One side is gone; whatever the other still wanted to write can go nowhere.
    const other = s.other(this);
    if (!other.writableEnded && !s.reset) other.end();
  }
}

/** A side closed cleanly when it both ended its readable half and finished its writable half. */
function closedCleanly(side: Side): boolean {
  if (isHttp2Stream(side)) return !streamWasReset(side);
  return side.readableEnded && side.writableFinished && side.errored === null;
}

function isHttp2Stream(side: Duplex): side is Http2Stream & Side {
  return 'rstCode' in side && 'session' in side;
}

/** Tears one side down abruptly: a TCP RST, or RST_STREAM for a tunnel stream. */
export function abort(side: Duplex): void {
  if (side.destroyed) return;
  if (side instanceof Socket) {
    if (side.connecting || (side as { _handle?: unknown })._handle == null) side.destroy();
    else if (side.writableEnded && !side.writableFinished) {
      // Our FIN may still be queued behind bytes the peer has not read. libuv refuses to reset
      // a socket with a shutdown pending (uv_tcp_close_reset: EINVAL), and Node then drops
      // the handle without closing it: the fd leaks and 'close' never comes, so the splice
      // never completes. Set SO_LINGER 0 ourselves: the close below sends the RST.
      setLingerReset(side);
      side.destroy();
    } else side.resetAndDestroy();
    return;
  }
  if (isHttp2Stream(side)) {
    // Not close(CONNECT_ERROR): Node's close() first ends the writable side, so the peer
    // would see END_STREAM (a clean FIN) before the RST_STREAM. destroy(err) sends only
    // RST_STREAM, with code INTERNAL_ERROR.
    side.destroy(RESET);
    return;
  }
  side.destroy();
}

/** The error a reset stream is destroyed with (its message never reaches the peer). */
const RESET: Error = Object.assign(new Error('peer connection reset'), { code: 'ECONNRESET' });

/** The outcome's error when the idle timeout reset the connection. */
const IDLE: Error = Object.assign(new Error('idle timeout: no byte either way'), { code: 'ETIMEDOUT' });
