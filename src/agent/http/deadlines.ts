/**
 * Coarse deadlines for the per-request timers of the source side (request and per-try timeouts,
 * hedges, backoffs, fault delays): one Node timer for all of them, however many requests are in
 * flight. A request with three `setTimeout`s made Node create and drop a timer list per duration
 * again and again (its lists are per duration, and removed when empty): about 5 µs of CPU per
 * request in a profile, several percent of the agent's time at a few thousand requests a second.
 *
 * Deadlines are grouped in slots of {@link SLOT_MS}; a callback runs in the first timer turn at
 * or after its slot's end, so at most one slot late (never early). Slot numbers are kept in a
 * binary min-heap; an emptied slot stays in the heap until its turn (lazy deletion). The timer is
 * unref'd: deadlines never keep a process alive.
 */

/** How coarse a deadline may be: 5 ms is well inside the ±50 ms a timeout is held to. */
export const SLOT_MS = 5;

/** A scheduled callback; pass it to {@link Deadlines.cancel}. */
export interface Deadline {
  readonly slot: number;
  readonly fn: () => void;
}

export class Deadlines {
  private readonly slots = new Map<number, Set<Deadline>>();
  private readonly heap: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerSlot = Infinity;
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
    this.fire = this.fire.bind(this);
  }

  /** Deadlines pending (for tests and bounds). */
  get size(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.size;
    return n;
  }

  /** Runs `fn` `delayMs` from now (at most {@link SLOT_MS} later). */
  add(delayMs: number, fn: () => void): Deadline {
    const slot = Math.ceil((this.now() + Math.max(0, delayMs)) / SLOT_MS);
    const d: Deadline = { slot, fn };
    let set = this.slots.get(slot);
    if (set === undefined) {
      this.slots.set(slot, (set = new Set()));
      this.push(slot);
    }
    set.add(d);
    if (slot < this.timerSlot) this.arm(slot);
    return d;
  }

  /** Forgets `d` (nothing when it ran or was cancelled already). */
  cancel(d: Deadline | undefined): void {
    if (d === undefined) return;
    this.slots.get(d.slot)?.delete(d);
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
      const set = this.slots.get(slot);
      this.slots.delete(slot);
      if (set === undefined) continue;
      for (const d of set) {
        try {
          d.fn();
        } catch (err) {
          // A deadline's callback must not stop the others; surface it as Node would.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    // Skip emptied slots at the front (cancelled deadlines) so the timer is not armed for nothing.
    while (this.heap.length > 0 && (this.slots.get(this.heap[0] as number)?.size ?? 0) === 0) this.slots.delete(this.pop());
    if (this.heap.length > 0) this.arm(this.heap[0] as number);
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
