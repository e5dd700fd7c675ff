/**
 * The per-workload byte limits of a data-path process (issue 18, docs/workload-limits.md): one
 * byte bucket per limited workload ({@link WorkloadThrottle}), charged with every chunk either
 * way of each of its outbound connections, and the pausing that follows from it. Its rate is the
 * lower of two: the workload's `meshlet.io/max-bandwidth` (fixed) and the rate its
 * `meshlet.io/max-agent-share` sets while it is over its share of the process beside an active
 * neighbour (adjusted at each usage settle, {@link BandwidthLimiter.adjustShares}; absent
 * otherwise, and then the bucket is not even charged).
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
import { bandwidthBurstBytes, nextShareRate, processBandwidthBytes } from '../policy/workload-limit.js';
import type { WorkloadInfo } from '../../mesh/types.js';
import type { UsageInterval } from './workload-usage.js';

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
  /** The rate its share limit sets in this process now, bytes per second; undefined: no share limit engaged. */
  readonly shareBytesPerSecond?: number | undefined;
}

/** One limited workload's bucket in this process, with the sources it holds. */
export class WorkloadThrottle {
  /** The workload's `meshlet.io/max-bandwidth`, bits per second (agent-wide); undefined: none. */
  bitsPerSecond: number | undefined;
  /** The workload's `meshlet.io/max-agent-share`, percent of each data-path process; undefined: none. */
  maxAgentShare: number | undefined;
  /** The rate its share limit sets in this process now, bytes per second; undefined: not engaged. */
  shareBytesPerSecond: number | undefined;
  /** The bucket's rate in this process, bytes per second: the lower of the two limits; Infinity: neither holds now. */
  bytesPerSecond: number;
  private readonly workers: number;
  /** Undefined while neither limit holds: a chunk is then not even charged. */
  private bucket: TokenBucket | undefined;
  /** Whether a source was held since the last share adjustment (whether the share rate was binding). */
  private heldSinceAdjust = false;
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

  constructor(limits: { readonly maxBandwidth?: number | undefined; readonly maxAgentShare?: number | undefined }, workers: number, clock: ThrottleClock) {
    this.clock = clock;
    this.workers = workers;
    this.bitsPerSecond = limits.maxBandwidth;
    this.maxAgentShare = limits.maxAgentShare;
    this.bytesPerSecond = Infinity;
    this.release = this.release.bind(this);
    this.rebucket();
  }

  /**
   * Takes the workload's limits from a new snapshot: a new (full) bucket when the rate changes;
   * held sources wait for the next release. A share limit removed disengages at once.
   */
  setLimits(limits: { readonly maxBandwidth?: number | undefined; readonly maxAgentShare?: number | undefined }): void {
    this.maxAgentShare = limits.maxAgentShare;
    if (this.maxAgentShare === undefined) this.shareBytesPerSecond = undefined;
    this.bitsPerSecond = limits.maxBandwidth;
    this.rebucket();
  }

  /** Sets (or, undefined, lifts) the rate of the share limit in this process, bytes per second. */
  setShareRate(bytesPerSecond: number | undefined): void {
    this.shareBytesPerSecond = bytesPerSecond;
    this.rebucket();
  }

  /** Whether a source was held since the last call (the share rate was binding), and starts counting again. */
  takeHeld(): boolean {
    const held = this.heldSinceAdjust || this.held.size > 0;
    this.heldSinceAdjust = false;
    return held;
  }

  /** A new bucket when the effective rate changed; none (and every held source let go) when no limit holds. */
  private rebucket(): void {
    const fixed = this.bitsPerSecond === undefined ? Infinity : processBandwidthBytes(this.bitsPerSecond, this.workers);
    const rate = Math.min(fixed, this.shareBytesPerSecond ?? Infinity);
    if (rate === this.bytesPerSecond && (this.bucket !== undefined || rate === Infinity)) return;
    this.bytesPerSecond = rate;
    if (rate === Infinity) {
      this.bucket = undefined;
      // Nothing holds them now: let them go, as a release would.
      if (this.held.size > 0) this.release();
      return;
    }
    this.bucket = newBucket(rate, this.clock.now());
  }

  /** Charges a chunk of `bytes`; true when the bucket is now in debt (the source should be held). */
  charge(bytes: number): boolean {
    if (this.bucket === undefined) return false;
    const level = this.bucket.spend(bytes, this.clock.now());
    if (level >= 0) return false;
    // Whole bytes: the level is fractional (the refill is continuous).
    this.throttledBytes += Math.min(bytes, Math.ceil(-level));
    return true;
  }

  /** Whether `src`, resumed by someone else, must be held again: the debt is not paid and this throttle's release did not let it go. */
  mustHold(src: Readable): boolean {
    return this.bucket !== undefined && this.bucket.tokens(this.clock.now()) < 0 && !this.granted.has(src);
  }

  /** Keeps `src` (paused, piping into `dst` when known) until the debt is paid. */
  hold(src: Readable, dst: Writable | undefined): void {
    this.held.set(src, dst);
    this.heldSinceAdjust = true;
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
    const wait = this.bucket === undefined ? 0 : this.bucket.msUntilLevel(0, this.clock.now());
    this.clock.after(Math.max(1, Math.ceil(wait)), this.release);
  }

  /** The timer: resumes every held source once the debt is paid (re-arms otherwise). */
  release(): void {
    this.timerArmed = false;
    const now = this.clock.now();
    if (this.bucket !== undefined && this.bucket.tokens(now) < 0) {
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

  /** The throttle of `workload` (made or updated to its limits), or undefined when it sets neither byte limit. */
  forWorkload(workload: WorkloadInfo): WorkloadThrottle | undefined {
    const limits = workload.limits;
    if (limits?.maxBandwidth === undefined && limits?.maxAgentShare === undefined) return undefined;
    const known = this.byUid.get(workload.uid);
    if (known !== undefined) {
      known.setLimits(limits);
      return known;
    }
    const made = new WorkloadThrottle(limits, this.workers, this.clock);
    this.byUid.set(workload.uid, made);
    return made;
  }

  /**
   * A new snapshot: each known workload takes its new limits, so open connections follow a
   * changed annotation, and a removed one lets them go at once. New connections of a workload
   * with neither limit are not throttled.
   */
  apply(byUid: ReadonlyMap<string, WorkloadInfo>): void {
    for (const [uid, throttle] of this.byUid) throttle.setLimits(byUid.get(uid)?.limits ?? {});
  }

  /** Whether a workload with a share limit has a throttle here (the usage settles then come every second). */
  get hasShareLimits(): boolean {
    for (const t of this.byUid.values()) if (t.maxAgentShare !== undefined) return true;
    return false;
  }

  /**
   * After a usage settle: each workload with a share limit gets the rate {@link nextShareRate}
   * decides from what it and the other local workloads did over the interval.
   */
  adjustShares(interval: UsageInterval): void {
    for (const [uid, throttle] of this.byUid) {
      if (throttle.maxAgentShare === undefined) continue;
      const own = interval.workloads.get(uid);
      let othersActive = false;
      for (const [other, w] of interval.workloads) {
        if (other !== uid && w.weight > 0) {
          othersActive = true;
          break;
        }
      }
      throttle.setShareRate(
        nextShareRate({
          limitPercent: throttle.maxAgentShare,
          elapsedSeconds: interval.elapsedMs / 1000,
          cpuSeconds: own?.cpuSeconds ?? 0,
          bytes: own?.bytes ?? 0,
          othersActive,
          rate: throttle.shareBytesPerSecond,
          bound: throttle.takeHeld(),
        }),
      );
    }
  }

  /**
   * Each workload's counts since the last drain (those with something to count, and those whose
   * share limit is engaged, with its rate); forgets idle throttles.
   */
  drain(each: (uid: string, counts: ThrottleCounts) => void): void {
    for (const [uid, throttle] of this.byUid) {
      const counts = throttle.takeCounts();
      const share = throttle.shareBytesPerSecond;
      if (counts.throttledMs > 0 || counts.throttledBytes > 0 || share !== undefined) each(uid, share === undefined ? counts : { ...counts, shareBytesPerSecond: share });
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
