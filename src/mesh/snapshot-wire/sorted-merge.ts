/**
 * A sorted list with a few entries changed, in proportion to the change: the agent keeps its
 * view's lists sorted between deltas (issue 17) instead of listing and sorting 100,000 workloads
 * again for every one-pod change. The order is `sortBy`'s (`cluster-state.ts`): by a string key,
 * compared with `<`, which is the order a built state and a full snapshot have.
 */

/**
 * `list` (sorted by `sortKey`, keys unique) without the entries whose keys are in `removed` and
 * with `inserted` added, still sorted: a new array, `list` untouched. A removed key that is not
 * in `list` is ignored; an inserted entry whose key stays in `list` (not removed) would be a
 * duplicate, which callers rule out (they remove the old entry of every key they insert).
 *
 * Cost: one or two copies of the list's references plus O(k log n) comparisons for k changed
 * keys; no full sort.
 */
export function mergeSorted<T>(list: readonly T[], removed: readonly string[], inserted: readonly T[], sortKey: (item: T) => string): T[] {
  const gone = removed
    .map((k) => {
      const i = lowerBound(list, k, sortKey);
      return i < list.length && sortKey(list[i] as T) === k ? i : -1;
    })
    .filter((i) => i !== -1)
    .sort((a, b) => a - b)
    .filter((i, n, all) => n === 0 || all[n - 1] !== i);
  const adds = inserted
    .map((item) => {
      const key = sortKey(item);
      return { item, key, at: lowerBound(list, key, sortKey) };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const few = fewEdits(list, gone, adds);
  if (few !== undefined) return few;
  // Runs of unchanged entries are sliced (a native copy) and joined once.
  const parts: (readonly T[])[] = [];
  let cursor = 0;
  let g = 0;
  // Takes list[cursor, to) but the removed indexes (`gone` is ascending).
  const copyTo = (to: number): void => {
    while (cursor < to) {
      const stop = g < gone.length ? Math.min(gone[g] as number, to) : to;
      if (stop > cursor) parts.push(list.slice(cursor, stop));
      cursor = stop;
      if (cursor < to && cursor === gone[g]) {
        cursor += 1;
        g += 1;
      }
    }
  };
  for (const { item, at } of adds) {
    copyTo(at);
    parts.push([item]);
  }
  copyTo(list.length);
  return join(parts);
}

/**
 * Edits (an index where entries are removed or inserted) up to which the list is copied once per
 * edit with `toSpliced`, a native copy of exactly the new size: a one-pod change is one or two
 * edits (its entry replaced, or removed at one place and its new uid inserted at another), and
 * one copy of 100,000 references costs ~0.45 ms here, against ~1.3 ms for slicing the runs and
 * joining them (two copies). Past it, the runs (two copies whatever the number of edits).
 */
const MAX_SPLICE_EDITS = 2;

/** What `toSpliced` (ES2023, Node 20+) is; the project's lib is ES2022. */
interface Splices<T> {
  toSpliced(start: number, deleteCount: number, ...items: T[]): T[];
}

/** The merge as at most {@link MAX_SPLICE_EDITS} `toSpliced` copies, or undefined for more edits. */
function fewEdits<T>(list: readonly T[], gone: readonly number[], adds: readonly { readonly item: T; readonly at: number }[]): T[] | undefined {
  // Index -> remove the entry there, and what goes before it (ascending).
  const edits = new Map<number, { remove: boolean; items: T[] }>();
  for (const at of gone) edits.set(at, { remove: true, items: [] });
  for (const { item, at } of adds) {
    const edit = edits.get(at);
    if (edit !== undefined) edit.items.push(item);
    else if (edits.size >= MAX_SPLICE_EDITS) return undefined;
    else edits.set(at, { remove: false, items: [item] });
  }
  if (edits.size > MAX_SPLICE_EDITS) return undefined;
  // From the highest index down: the lower indexes stay valid.
  let out = list as T[];
  for (const at of [...edits.keys()].sort((x, y) => y - x)) {
    const edit = edits.get(at) as { remove: boolean; items: T[] };
    out = (out as unknown as Splices<T>).toSpliced(at, edit.remove ? 1 : 0, ...edit.items);
  }
  return out === list ? list.slice() : out;
}

/** Largest number of parts joined by one `concat` call (its arguments go on the stack). */
const MAX_CONCAT_ARGS = 1024;

function join<T>(parts: readonly (readonly T[])[]): T[] {
  if (parts.length <= MAX_CONCAT_ARGS) return ([] as T[]).concat(...parts);
  const out: T[] = [];
  for (const part of parts) for (const item of part) out.push(item);
  return out;
}

/** The first index of `list` whose key is not below `key`. */
export function lowerBound<T>(list: readonly T[], key: string, sortKey: (item: T) => string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sortKey(list[mid] as T) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether `list` is sorted by `sortKey` with no key twice. */
export function isStrictlySorted<T>(list: readonly T[], sortKey: (item: T) => string): boolean {
  for (let i = 1; i < list.length; i += 1) if (!(sortKey(list[i - 1] as T) < sortKey(list[i] as T))) return false;
  return true;
}
