/**
 * The recent latencies (to the response head) of a Service port, for hedging: a ring of the last
 * {@link LATENCY_SAMPLES} successful tries and their percentile, recomputed at most every
 * {@link RECOMPUTE_EVERY} samples so that a request pays a ring write, not a sort. Pure.
 */
export const LATENCY_SAMPLES = 256;
/** Samples between two sorts of the ring. */
const RECOMPUTE_EVERY = 32;
/** Fewer samples than this and no percentile is trusted: hedging waits for its floor only after this many. */
export const MIN_SAMPLES = 20;

export class LatencyWindow {
  private readonly ring = new Float64Array(LATENCY_SAMPLES);
  private count = 0;
  private next = 0;
  private sinceSort = RECOMPUTE_EVERY;
  private sorted: Float64Array | undefined;

  /** One successful try's latency, ms. */
  record(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % LATENCY_SAMPLES;
    if (this.count < LATENCY_SAMPLES) this.count++;
    this.sinceSort++;
  }

  /** The `p`th percentile (0-100) of the window, or undefined with too few samples. */
  percentile(p: number): number | undefined {
    if (this.count < MIN_SAMPLES) return undefined;
    if (this.sorted === undefined || this.sinceSort >= RECOMPUTE_EVERY) {
      this.sorted = this.ring.slice(0, this.count).sort();
      this.sinceSort = 0;
    }
    const s = this.sorted;
    const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
    return s[i];
  }
}
