/**
 * An immutable map made of a shared base and a small overlay of changes, so a new version of a
 * 100,000-entry map that differs in a few keys costs those keys, not a copy of 100,000
 * (`applyDelta` makes one per version of the agent's view and must leave the held one as it
 * is). The overlay is folded into a new base once it outgrows {@link MAX_OVERLAY}, so lookups
 * stay two map reads and a long run of versions costs one copy per that many changed keys.
 */

/** Marks a key deleted in an overlay. */
const GONE: unique symbol = Symbol('gone');
type Slot<V> = V | typeof GONE;

/**
 * Largest overlay kept: an eighth of the base, at least 64 and at most 1,024 keys. Each version
 * copies the overlay (1,024 keys: tens of microseconds); a fold copies the base, once per that
 * many changed keys.
 */
export function maxOverlay(baseSize: number): number {
  return Math.min(1024, Math.max(64, baseSize >> 3));
}

/** A read-only map: `base` with `overlay` on top. Never changed after it is made. */
export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly overlay: ReadonlyMap<K, Slot<V>>,
    size: number,
  ) {
    this.size = size;
  }

  /** A layered map of `entries` (no overlay). */
  static of<K, V>(entries: Iterable<readonly [K, V]>): LayeredMap<K, V> {
    const base = new Map(entries);
    return new LayeredMap<K, V>(base, new Map(), base.size);
  }

  /** A draft of the next version: changes go to a copy of the overlay only. */
  edit(): MapDraft<K, V> {
    return new MapDraft(this.base, new Map(this.overlay), this.size, (base, overlay, size) => new LayeredMap(base, overlay, size));
  }

  get(key: K): V | undefined {
    const slot = this.overlay.get(key);
    if (slot !== undefined) return slot === GONE ? undefined : slot;
    return this.base.get(key);
  }

  has(key: K): boolean {
    const slot = this.overlay.get(key);
    if (slot !== undefined) return slot !== GONE;
    return this.base.has(key);
  }

  // Without an overlay, the base's own iterators (the common case after a fold, and faster).
  entries(): MapIterator<[K, V]> {
    return this.overlay.size === 0 ? this.base.entries() : this.layeredEntries();
  }

  keys(): MapIterator<K> {
    return this.overlay.size === 0 ? this.base.keys() : this.layeredKeys();
  }

  values(): MapIterator<V> {
    return this.overlay.size === 0 ? this.base.values() : this.layeredValues();
  }

  private *layeredEntries(): MapIterator<[K, V]> {
    for (const entry of this.base) if (!this.overlay.has(entry[0])) yield entry;
    for (const [key, slot] of this.overlay) if (slot !== GONE) yield [key, slot];
  }

  private *layeredKeys(): MapIterator<K> {
    for (const key of this.base.keys()) if (!this.overlay.has(key)) yield key;
    for (const [key, slot] of this.overlay) if (slot !== GONE) yield key;
  }

  private *layeredValues(): MapIterator<V> {
    for (const [key, value] of this.base) if (!this.overlay.has(key)) yield value;
    for (const slot of this.overlay.values()) if (slot !== GONE) yield slot;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [key, value] of this.entries()) fn(value, key, this);
  }
}

/** Changes to one {@link LayeredMap}, turned into the next version by {@link MapDraft.done}. */
export class MapDraft<K, V> {
  constructor(
    private readonly base: ReadonlyMap<K, V>,
    private readonly overlay: Map<K, Slot<V>>,
    private count: number,
    private readonly make: (base: ReadonlyMap<K, V>, overlay: ReadonlyMap<K, Slot<V>>, size: number) => LayeredMap<K, V>,
  ) {}

  get(key: K): V | undefined {
    const slot = this.overlay.get(key);
    if (slot !== undefined) return slot === GONE ? undefined : slot;
    return this.base.get(key);
  }

  has(key: K): boolean {
    const slot = this.overlay.get(key);
    if (slot !== undefined) return slot !== GONE;
    return this.base.has(key);
  }

  set(key: K, value: V): void {
    if (!this.has(key)) this.count += 1;
    this.overlay.set(key, value);
  }

  delete(key: K): void {
    if (!this.has(key)) return;
    this.count -= 1;
    // A key the base never had needs no mark.
    if (this.base.has(key)) this.overlay.set(key, GONE);
    else this.overlay.delete(key);
  }

  /** The next version; the draft must not be used after. */
  done(): LayeredMap<K, V> {
    if (this.overlay.size <= maxOverlay(this.base.size)) return this.make(this.base, this.overlay, this.count);
    const base = new Map<K, V>();
    for (const entry of this.base) if (!this.overlay.has(entry[0])) base.set(entry[0], entry[1]);
    for (const [key, slot] of this.overlay) if (slot !== GONE) base.set(key, slot);
    return this.make(base, new Map(), this.count);
  }
}
