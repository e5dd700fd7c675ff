/**
 * Live counts per peer address, for the per-peer caps of every listener that faces untrusted
 * peers (the tunnel port, the local HTTP ports, the controller's agent API).
 */

/** Counts per key (a peer address); keys at zero are dropped so the map holds only live peers. */
export class PeerCounter {
  private readonly counts = new Map<string, number>();

  /** The count for `key`. */
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Adds one (the caller checked its caps itself). */
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Adds one unless `key` is at `cap`; true when added. */
  tryAdd(key: string, cap: number): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= cap) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  /** Removes one (never below zero). */
  remove(key: string): void {
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  /** Keys with a non-zero count. */
  get size(): number {
    return this.counts.size;
  }
}
