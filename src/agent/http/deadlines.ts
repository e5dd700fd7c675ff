/**
 * Coarse deadlines for the per-request timers of the source side (request and per-try timeouts,
 * hedges, backoffs, fault delays): one Node timer for all of them, however many requests are in
 * flight. A request with three `setTimeout`s made Node create and drop a timer list per duration
 * again and again (its lists are per duration, and removed when empty): about 5 µs of CPU per
 * request in a profile, several percent of the agent's time at a few thousand requests a second.
 *
 * Deadlines are grouped in slots of {@link SLOT_MS}; a callback runs in the first timer turn at
 * or after its slot's end, so at most one slot late (never early). Slot numbers are kept in a
 * binary min-heap; an emptied slot stays in the heap until its turn (lazy deletion), and a
 * cancelled deadline stays in its slot's list with its callback cleared (cancel is O(1)). The timer is
 * unref'd: deadlines never keep a process alive.
 */

/** How coarse a deadline may be: 5 ms is well inside the ±50 ms a timeout is held to. */
export const SLOT_MS = 5;

/** A scheduled callback; pass it to {@link Deadlines.cancel}. */
export interface Deadline {
  readonly slot: number;
}

/** A deadline as the wheel keeps it: cancelling clears `fn` (no search, no hashing). */
interface Entry extends Deadline {
  fn: (() => void) | undefined;
  readonly bucket: Bucket;
}

/** The deadlines of one slot, in the order they were added, and how many are still live. */
interface Bucket {
  entries: Entry[];
  live: number;
}

/** A slot's list is compacted when fewer than half its entries are live and it has at least this many. */
const COMPACT_AT = 16;

export class Deadlines {
  private readonly slots = new Map<number, Bucket>();
  private readonly heap: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerSlot = Infinity;
  private readonly now: () => number;
  /** The slot of the last add and its bucket: requests arriving together share one, skipping the Map. */
  private lastSlot = -1;
  private lastBucket: Bucket | undefined;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
    this.fire = this.fire.bind(this);
  }

  /** Deadlines pending (for tests and bounds). */
  get size(): number {
    let n = 0;
    for (const b of this.slots.values()) n += b.live;
    return n;
  }

  /** Entries kept, live or cancelled and not compacted yet (for tests of the memory bound). */
  get retained(): number {
    let n = 0;
    for (const b of this.slots.values()) n += b.entries.length;
    return n;
  }

  /** Runs `fn` `delayMs` from now (at most {@link SLOT_MS} later). */
  add(delayMs: number, fn: () => void): Deadline {
    const slot = Math.ceil((this.now() + Math.max(0, delayMs)) / SLOT_MS);
    let bucket = slot === this.lastSlot ? this.lastBucket : this.slots.get(slot);
    if (bucket === undefined) {
      bucket = { entries: [], live: 0 };
      this.slots.set(slot, bucket);
      this.push(slot);
    }
    this.lastSlot = slot;
    this.lastBucket = bucket;
    const d: Entry = { slot, fn, bucket };
    bucket.entries.push(d);
    bucket.live++;
    if (slot < this.timerSlot) this.arm(slot);
    return d;
  }

  /** Forgets `d` (nothing when it ran or was cancelled already). */
  cancel(d: Deadline | undefined): void {
    if (d === undefined) return;
    const e = d as Entry;
    if (e.fn === undefined) return;
    e.fn = undefined;
    const b = e.bucket;
    b.live--;
    // Cancelled entries would otherwise stay until their slot's turn: at thousands of requests a
    // second and a long timeout, that is memory in proportion to rate × timeout. Compacting
    // when half are dead keeps a slot's list within twice its live deadlines, at O(1) amortized.
    if (b.live === 0) b.entries.length = 0;
    else if (b.entries.length >= COMPACT_AT && b.live * 2 < b.entries.length) b.entries = b.entries.filter((x) => x.fn !== undefined);
  }

  private arm(slot: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerSlot = slot;
    this.timer = setTimeout(this.fire, Math.max(0, slot * SLOT_MS - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerSlot = Infinity;
    const due = Math.floor(this.now() / SLOT_MS);
    while (this.heap.length > 0 && (this.heap[0] as number) <= due) {
      const slot = this.pop();
      const bucket = this.slots.get(slot);
      this.forget(slot);
      if (bucket === undefined || bucket.live === 0) continue;
      for (const d of bucket.entries) {
        const fn = d.fn;
        if (fn === undefined) continue;
        d.fn = undefined;
        bucket.live--;
        try {
          fn();
        } catch (err) {
          // A deadline's callback must not stop the others; surface it as Node would.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    // Skip emptied slots at the front (cancelled deadlines) so the timer is not armed for nothing.
    while (this.heap.length > 0 && (this.slots.get(this.heap[0] as number)?.live ?? 0) === 0) this.forget(this.pop());
    if (this.heap.length > 0) this.arm(this.heap[0] as number);
  }

  private forget(slot: number): void {
    this.slots.delete(slot);
    if (slot === this.lastSlot) {
      this.lastSlot = -1;
      this.lastBucket = undefined;
    }
  }

  private push(slot: number): void {
    const h = this.heap;
    h.push(slot);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((h[p] as number) <= slot) break;
      h[i] = h[p] as number;
      i = p;
    }
    h[i] = slot;
  }

  private pop(): number {
    const h = this.heap;
    const top = h[0] as number;
    const last = h.pop() as number;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
        if ((h[c] as number) >= last) break;
        h[i] = h[c] as number;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
