/**
 * Adaptive concurrency at the destination (Envoy's gradient controller), one controller per
 * destination workload port and per agent process (each worker has its own, as each Envoy has
 * its own): requests in flight to the workload port are capped by a limit that follows the
 * latency. Every `sampleIntervalMs` the `percentile` of the latencies of the window (request to
 * response head) is the sample RTT, and
 *
 *     gradient = clamp((minRtt + minRtt x bufferPercent/100) / sampleRtt, 0.5, 2)
 *     limit    = clamp(limit x gradient + sqrt(limit x gradient), minConcurrency, maxConcurrency)
 *
 * The minimum RTT is measured at the start and again every `minRttIntervalMs` (or when the
 * limit sat at `minConcurrency` for {@link MIN_LIMIT_WINDOWS} windows in a row, as Envoy does):
 * the limit drops to `minConcurrency` until `minRttRequests` requests started in that window have
 * answered; their `percentile` is the new minimum RTT and the limit in force before comes back.
 * Pure: the clock is passed to every call, and windows advance when requests come and go (no
 * timer: an idle port has nothing to decide).
 */
import type { AdaptiveConcurrencyPolicy } from '../../../mesh/resilience.js';

/** Windows at the minimum limit in a row that make the minimum RTT be measured again (Envoy's 5). */
export const MIN_LIMIT_WINDOWS = 5;
/** Latencies kept per sample window: a ring, so a flood costs a bounded array, not a growing one. */
export const MAX_WINDOW_SAMPLES = 1024;
/** Gradient bounds (Envoy's): the limit at most doubles, or halves, per window. */
const MIN_GRADIENT = 0.5;
const MAX_GRADIENT = 2;

/** A request admitted under the limit: hand it back to {@link GradientController.release}. */
export interface ConcurrencyTicket {
  readonly startedAt: number;
  /** The minimum-RTT round it started in (0: a normal window). */
  readonly round: number;
}

/** The `p`th percentile (0-100) of `values[0..count)` (sorted in place). */
export function percentileOf(values: Float64Array, count: number, p: number): number {
  const s = values.subarray(0, count).sort();
  const i = Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1));
  return s[i] as number;
}

export class GradientController {
  readonly policy: AdaptiveConcurrencyPolicy;
  private limitValue: number;
  inFlight = 0;
  /** The ideal latency; undefined until the first measure ends. */
  minRtt: number | undefined;
  private readonly samples = new Float64Array(MAX_WINDOW_SAMPLES);
  private sampleCount = 0;
  private windowStart: number;
  /** Rounds of minimum-RTT measure started so far; the current one while `measuring`. */
  private round = 0;
  private measuring = false;
  private measureCount = 0;
  private readonly measured = new Float64Array(MAX_WINDOW_SAMPLES);
  /** The limit in force before a measure, restored after it. */
  private deferredLimit: number;
  private nextMeasureAt = 0;
  private windowsAtMin = 0;

  constructor(policy: AdaptiveConcurrencyPolicy, now: number) {
    this.policy = policy;
    this.limitValue = policy.minConcurrency;
    this.deferredLimit = policy.minConcurrency;
    this.windowStart = now;
    this.startMeasure(now);
  }

  /** The limit in force now. */
  get limit(): number {
    return this.limitValue;
  }

  /** Whether a minimum-RTT measure is running. */
  get measuringMinRtt(): boolean {
    return this.measuring;
  }

  /** Admits one more request, or undefined when `limit` are in flight (refuse it at once). */
  tryAcquire(now: number): ConcurrencyTicket | undefined {
    this.advance(now);
    if (this.inFlight >= this.limitValue) return undefined;
    this.inFlight++;
    return { startedAt: now, round: this.measuring ? this.round : 0 };
  }

  /**
   * A request is over: `headAt` is when its response head came (its latency is `headAt -
   * startedAt`), undefined when it got none (a failure: no sample, as Envoy cancels it).
   */
  release(ticket: ConcurrencyTicket, headAt: number | undefined, now: number): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (headAt !== undefined) {
      const latency = Math.max(0, headAt - ticket.startedAt);
      if (this.measuring && ticket.round === this.round) this.measureSample(latency, now);
      else if (!this.measuring && ticket.round === 0) this.windowSample(latency);
    }
    this.advance(now);
  }

  private windowSample(latency: number): void {
    this.samples[this.sampleCount % MAX_WINDOW_SAMPLES] = latency;
    this.sampleCount++;
  }

  private measureSample(latency: number, now: number): void {
    if (this.measureCount < MAX_WINDOW_SAMPLES) this.measured[this.measureCount] = latency;
    this.measureCount++;
    if (this.measureCount < this.policy.minRttRequests) return;
    this.minRtt = percentileOf(this.measured, Math.min(this.measureCount, MAX_WINDOW_SAMPLES), this.policy.percentile);
    this.measuring = false;
    this.limitValue = this.deferredLimit;
    this.nextMeasureAt = now + this.policy.minRttIntervalMs;
    this.windowStart = now;
    this.sampleCount = 0;
    this.windowsAtMin = 0;
  }

  private startMeasure(now: number): void {
    this.round++;
    this.measuring = true;
    this.measureCount = 0;
    this.deferredLimit = this.limitValue;
    this.limitValue = this.policy.minConcurrency;
    this.sampleCount = 0;
    this.windowStart = now;
  }

  /** Closes the sample windows that have passed, and starts a measure when one is due. */
  private advance(now: number): void {
    if (this.measuring) return;
    if (now >= this.nextMeasureAt || this.windowsAtMin >= MIN_LIMIT_WINDOWS) {
      this.startMeasure(now);
      return;
    }
    if (now - this.windowStart < this.policy.sampleIntervalMs) return;
    this.windowStart = now;
    if (this.sampleCount === 0 || this.minRtt === undefined) return;
    const sampleRtt = percentileOf(this.samples, Math.min(this.sampleCount, MAX_WINDOW_SAMPLES), this.policy.percentile);
    this.sampleCount = 0;
    this.limitValue = nextLimit(this.policy, this.limitValue, this.minRtt, sampleRtt);
    this.windowsAtMin = this.limitValue <= this.policy.minConcurrency ? this.windowsAtMin + 1 : 0;
  }
}

/** One step of the gradient controller (see the module comment). */
export function nextLimit(policy: AdaptiveConcurrencyPolicy, limit: number, minRtt: number, sampleRtt: number): number {
  const target = minRtt + (minRtt * policy.bufferPercent) / 100;
  const raw = sampleRtt <= 0 ? MAX_GRADIENT : target / sampleRtt;
  const gradient = Math.min(MAX_GRADIENT, Math.max(MIN_GRADIENT, raw));
  const scaled = limit * gradient;
  const next = Math.floor(scaled + Math.sqrt(scaled));
  return Math.min(policy.maxConcurrency, Math.max(policy.minConcurrency, next));
}
