/**
 * Token reviews, kept briefly so an agent's every call does not cost a TokenReview round trip
 * (positive: the node) and a refused token sent again does not cost another (negative: the
 * reason). Keyed by the token's hash (the token itself is never kept), bounded in size and age;
 * never outlives the token.
 */

interface Entry<T> {
  readonly node: T;
  readonly expiresAt: number;
}

/** A bounded, expiring map from token hash to a review's outcome (by default, a node name). */
export class ReviewCache<T = string> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(opts: { ttlMs: number; maxEntries: number }) {
    this.ttlMs = opts.ttlMs;
    this.maxEntries = opts.maxEntries;
  }

  /** The outcome of a cached review, or undefined (an expired entry is dropped). */
  get(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.node;
  }

  /** Keeps a review until `now + ttl`, or the token's own expiry when sooner. */
  set(key: string, node: T, now: number, tokenExpiresAt?: number): void {
    const expiresAt = Math.min(now + this.ttlMs, tokenExpiresAt ?? Number.POSITIVE_INFINITY);
    if (expiresAt <= now || this.ttlMs <= 0) return;
    this.entries.delete(key);
    // Maps iterate in insertion order: the first key is the oldest entry.
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { node, expiresAt });
  }

  /** Number of entries (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.entries.size;
  }
}
