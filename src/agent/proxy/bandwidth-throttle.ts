/**
 * The per-workload bandwidth limit of a data-path process (`meshlet.io/max-bandwidth`, issue 18,
 * docs/workload-limits.md): one byte bucket per limited workload ({@link WorkloadThrottle}),
 * charged with every chunk either way of each of its outbound connections, and the pausing that
 * follows from it.
 *
 * - A chunk already read is always passed on (never dropped) and charged in full: the bucket may
 *   go into debt. While it is in debt, the source that read the chunk pauses ({@link hold}); its
 *   bytes wait in the kernel, so nothing is buffered beyond the streams' own high-water marks.
 * - One timer per workload (not per connection) resumes every held source once the refill has
 *   paid the debt back; each resumed source may read one chunk before it is held again, so all
 *   of a workload's connections progress in turn.
 * - Someone else may resume a held source (`pipe` does on 'drain', the per-turn budget at the
 *   end of a turn): the 'resume' guard of {@link throttleStream} asks
 *   {@link WorkloadThrottle.mustHold} and pauses it again while the debt lasts, unless this
 *   throttle's own release let it go (once: until the source is held again).
 * - Where it applies: {@link attachThrottle} marks a limited workload's captured socket at
 *   accept; every splice of that socket (direct, tunnel, local, after an upgrade) and the L7
 *   request and response bodies of its HTTP connections go through {@link throttleStream}.
 *
 * Workloads without a limit get no throttle: their connections pay nothing (not even a listener).
 * The decisions are driven by a clock and a timer that tests replace.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { TokenBucket } from '../policy/resilience/token-bucket.js';
import { bandwidthBurstBytes, processBandwidthBytes } from '../policy/workload-limit.js';
import type { WorkloadInfo } from '../../mesh/types.js';

/** The clock (ms, monotonic) and the one-shot timer of a throttle: `performance.now` and an unref'd `setTimeout` outside tests. */
export interface ThrottleClock {
  now(): number;
  after(ms: number, fn: () => void): void;
}

const realClock: ThrottleClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    setTimeout(fn, ms).unref();
  },
};

/** Throttled time and bytes of one workload since the last {@link BandwidthLimiter.drain}. */
export interface ThrottleCounts {
  /** Milliseconds during which at least one of its sources was held. */
  readonly throttledMs: number;
  /** Bytes charged beyond the tokens the bucket held (the debt its sources waited out). */
  readonly throttledBytes: number;
}

/** One limited workload's bucket in this process, with the sources it holds. */
export class WorkloadThrottle {
  /** The workload's `meshlet.io/max-bandwidth`, bits per second (agent-wide). */
  bitsPerSecond: number;
  /** This process's part of it, bytes per second. */
  bytesPerSecond: number;
  private bucket: TokenBucket;
  private readonly clock: ThrottleClock;
  /** Held sources and where each pipes to, when known (a source held twice, by its data and by the guard, is one entry). */
  private held = new Map<Readable, Writable | undefined>();
  /**
   * Sources the last release let go and not held since: a resume of theirs is not undone by the
   * guard. One grant each: once held again, the guard applies to them again.
   */
  private granted = new Set<Readable>();
  private timerArmed = false;
  private since: number | undefined;
  /** Counted since the last drain. */
  throttledMs = 0;
  throttledBytes = 0;
  /** Captured connections of the workload marked with it and open in this process (the limiter forgets a throttle at 0 once idle). */
  connections = 0;

  constructor(bitsPerSecond: number, workers: number, clock: ThrottleClock) {
    this.clock = clock;
    this.bitsPerSecond = bitsPerSecond;
    this.bytesPerSecond = processBandwidthBytes(bitsPerSecond, workers);
    this.bucket = newBucket(this.bytesPerSecond, clock.now());
    this.release = this.release.bind(this);
  }

  /** Takes a new limit: a new (full) bucket at the new rate; held sources wait for the next release. */
  setLimit(bitsPerSecond: number, workers: number): void {
    if (bitsPerSecond === this.bitsPerSecond) return;
    this.bitsPerSecond = bitsPerSecond;
    this.bytesPerSecond = processBandwidthBytes(bitsPerSecond, workers);
    this.bucket = newBucket(this.bytesPerSecond, this.clock.now());
  }

  /** Charges a chunk of `bytes`; true when the bucket is now in debt (the source should be held). */
  charge(bytes: number): boolean {
    const level = this.bucket.spend(bytes, this.clock.now());
    if (level >= 0) return false;
    // Whole bytes: the level is fractional (the refill is continuous).
    this.throttledBytes += Math.min(bytes, Math.ceil(-level));
    return true;
  }

  /** Whether `src`, resumed by someone else, must be held again: the debt is not paid and this throttle's release did not let it go. */
  mustHold(src: Readable): boolean {
    return this.bucket.tokens(this.clock.now()) < 0 && !this.granted.has(src);
  }

  /** Keeps `src` (paused, piping into `dst` when known) until the debt is paid. */
  hold(src: Readable, dst: Writable | undefined): void {
    this.held.set(src, dst);
    this.granted.delete(src);
    if (this.since === undefined) this.since = this.clock.now();
    this.arm();
  }

  /** Sources held now (tests and the admin view read it). */
  get heldCount(): number {
    return this.held.size;
  }

  /** Hands over the counts since the last call, closing the throttled interval so far. */
  takeCounts(): ThrottleCounts {
    if (this.since !== undefined) {
      const now = this.clock.now();
      this.throttledMs += now - this.since;
      this.since = now;
    }
    const counts = { throttledMs: this.throttledMs, throttledBytes: this.throttledBytes };
    this.throttledMs = 0;
    this.throttledBytes = 0;
    return counts;
  }

  /** Whether the limiter may forget it: no connection, nothing held, nothing left to count. */
  get idle(): boolean {
    return this.connections === 0 && this.held.size === 0 && this.since === undefined && this.throttledMs === 0 && this.throttledBytes === 0;
  }

  private arm(): void {
    if (this.timerArmed) return;
    this.timerArmed = true;
    // Whole milliseconds, at least one: a timer of 0.3 ms would fire before the debt is paid.
    this.clock.after(Math.max(1, Math.ceil(this.bucket.msUntilLevel(0, this.clock.now()))), this.release);
  }

  /** The timer: resumes every held source once the debt is paid (re-arms otherwise). */
  release(): void {
    this.timerArmed = false;
    const now = this.clock.now();
    if (this.bucket.tokens(now) < 0) {
      if (this.held.size > 0) this.arm();
      return;
    }
    if (this.since !== undefined) this.throttledMs += now - this.since;
    this.since = undefined;
    const held = this.held;
    this.held = new Map();
    this.granted = new Set(held.keys());
    for (const [s, d] of held) {
      // A destination waiting for 'drain' resumes its source itself (pipe), as it would have anyway.
      if (!s.destroyed && (d === undefined || (!d.destroyed && !d.writableNeedDrain))) s.resume();
    }
  }
}

function newBucket(bytesPerSecond: number, now: number): TokenBucket {
  const burst = bandwidthBurstBytes(bytesPerSecond);
  return new TokenBucket({ requests: burst, periodMs: (burst / bytesPerSecond) * 1000 }, now);
}

/** The throttles of this process's limited workloads, by uid. */
export class BandwidthLimiter {
  private readonly workers: number;
  private readonly clock: ThrottleClock;
  private readonly byUid = new Map<string, WorkloadThrottle>();

  constructor(workers: number, clock: ThrottleClock = realClock) {
    this.workers = Math.max(1, workers);
    this.clock = clock;
  }

  /** The throttle of `workload` (made or updated to its limit), or undefined when it sets none. */
  forWorkload(workload: WorkloadInfo): WorkloadThrottle | undefined {
    const bps = workload.limits?.maxBandwidth;
    const known = this.byUid.get(workload.uid);
    if (bps === undefined) return undefined;
    if (known !== undefined) {
      known.setLimit(bps, this.workers);
      return known;
    }
    const made = new WorkloadThrottle(bps, this.workers, this.clock);
    this.byUid.set(workload.uid, made);
    return made;
  }

  /**
   * A new snapshot: each known workload takes its new limit, so open connections follow a
   * changed annotation. A workload whose limit is gone keeps its throttle only until its open
   * connections close (their splices hold it); new ones are not throttled.
   */
  apply(byUid: ReadonlyMap<string, WorkloadInfo>): void {
    for (const [uid, throttle] of this.byUid) {
      const bps = byUid.get(uid)?.limits?.maxBandwidth;
      if (bps !== undefined) throttle.setLimit(bps, this.workers);
    }
  }

  /** Each workload's counts since the last drain (only those with something to count); forgets idle throttles. */
  drain(each: (uid: string, counts: ThrottleCounts) => void): void {
    for (const [uid, throttle] of this.byUid) {
      const counts = throttle.takeCounts();
      if (counts.throttledMs > 0 || counts.throttledBytes > 0) each(uid, counts);
      if (throttle.idle) this.byUid.delete(uid);
    }
  }

  /** The throttle of `uid`, if this process has one. */
  get(uid: string): WorkloadThrottle | undefined {
    return this.byUid.get(uid);
  }
}

const kThrottle = Symbol('meshlet.throttle');

interface Throttled extends Socket {
  [kThrottle]?: WorkloadThrottle;
}

/**
 * Marks a captured socket as its workload's: every splice it becomes a side of (direct, tunnel,
 * local delivery, after an HTTP upgrade) charges both directions to `throttle`. The throttle
 * counts the socket as one of its connections until it closes.
 */
export function attachThrottle(socket: Socket, throttle: WorkloadThrottle): void {
  const s = socket as Throttled;
  if (s[kThrottle] !== undefined) return;
  s[kThrottle] = throttle;
  throttle.connections += 1;
  s.on('close', onThrottledClose);
}

function onThrottledClose(this: Throttled): void {
  const throttle = this[kThrottle];
  if (throttle !== undefined) throttle.connections -= 1;
}

/** The throttle a socket was marked with, if any. */
export function throttleOf(side: object): WorkloadThrottle | undefined {
  return (side as Partial<Throttled>)[kThrottle];
}

const kThrottled = Symbol('meshlet.throttled');

/** A stream charged to a throttle, and where it pipes to. */
interface ThrottledStream extends Readable {
  [kThrottled]?: { readonly throttle: WorkloadThrottle; readonly dst: Writable | undefined };
}

/**
 * Charges every chunk `src` reads to `throttle` and holds `src` (paused) while the workload's
 * bucket is in debt; a resume by anyone else is undone while the debt lasts. `dst`: where `src`
 * pipes to (its 'drain' resumes `src` itself). `ownData`: the caller reads `src` with its own
 * 'data' handler and calls {@link chargeStream} there (a 'data' listener added here could start
 * the stream flowing before the caller reads it). The splice and the L7 bodies use it.
 */
export function throttleStream(src: Readable, dst: Writable | undefined, throttle: WorkloadThrottle, ownData = false): void {
  const s = src as ThrottledStream;
  if (s[kThrottled] !== undefined) return;
  s[kThrottled] = { throttle, dst };
  if (!ownData) s.on('data', onThrottledData);
  s.on('resume', onThrottledResume);
}

/** Charges `bytes` read from a stream set up with {@link throttleStream}; holds it when the bucket is in debt. */
export function chargeStream(src: Readable, bytes: number): void {
  const t = (src as ThrottledStream)[kThrottled];
  if (t === undefined || !t.throttle.charge(bytes)) return;
  src.pause();
  t.throttle.hold(src, t.dst);
}

function onThrottledData(this: Readable, chunk: Buffer): void {
  chargeStream(this, chunk.length);
}

function onThrottledResume(this: ThrottledStream): void {
  const t = this[kThrottled];
  if (t === undefined || !t.throttle.mustHold(this)) return;
  this.pause();
  t.throttle.hold(this, t.dst);
}
