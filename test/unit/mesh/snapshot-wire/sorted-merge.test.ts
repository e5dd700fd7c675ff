/**
 * `mergeSorted` (the agent's view keeps its lists sorted between deltas) against a plain
 * filter, concat and `sortBy` over generated lists and changes (fast-check, fixed seed): the
 * same list, the input untouched.
 */
import t from 'tap';
import fc from 'fast-check';
import { sortBy } from '../../../../src/mesh/cluster-state.js';
import { isStrictlySorted, mergeSorted } from '../../../../src/mesh/snapshot-wire/sorted-merge.js';

/** Fixed, so a failure reproduces; fast-check prints the counterexample. */
const SEED = 4242;

interface Item {
  readonly key: string;
  readonly rev: number;
}
const byKey = (i: Item): string => i.key;
// Short keys from a small alphabet: collisions, prefixes ("a" < "ab") and high code points.
const key = fc.string({ unit: fc.constantFrom('a', 'b', 'B', '/', 'é', '\u{1F600}'), maxLength: 4 });

t.test('a merge of removed and inserted keys equals filtering, adding and sorting again', async (t) => {
  let runs = 0;
  let changes = 0;
  fc.assert(
    fc.property(fc.uniqueArray(key, { maxLength: 40 }), fc.array(key, { maxLength: 12 }), fc.uniqueArray(key, { maxLength: 12 }), (held, removedRaw, insertedKeys) => {
      const list = sortBy(held.map((k) => ({ key: k, rev: 0 })), byKey);
      const copy = [...list];
      // Callers remove the old entry of every key they insert; removing keys not held is allowed.
      const removed = [...removedRaw, ...insertedKeys.filter((k) => held.includes(k))];
      const inserted = insertedKeys.map((k) => ({ key: k, rev: 1 }));
      const got = mergeSorted(list, removed, inserted, byKey);
      const gone = new Set(removed);
      const want = sortBy([...list.filter((i) => !gone.has(i.key)), ...inserted], byKey);
      t.strictSame(got, want);
      t.strictSame(list, copy, 'the input list is untouched');
      t.equal(isStrictlySorted(got, byKey), true, 'sorted, no key twice');
      changes += removed.length + inserted.length;
      runs += 1;
    }),
    { seed: SEED, numRuns: 300 },
  );
  t.equal(runs, 300, 'every generated case checked');
  t.ok(changes > 300, `${changes} keys changed in all`);
});

t.test('edges: an empty list, nothing changed, every entry removed, inserts at both ends', async (t) => {
  const list = ['b', 'd', 'f'].map((k) => ({ key: k, rev: 0 }));
  t.strictSame(mergeSorted([], [], [{ key: 'x', rev: 1 }], byKey), [{ key: 'x', rev: 1 }]);
  t.strictSame(mergeSorted(list, [], [], byKey), list);
  t.strictSame(mergeSorted(list, ['d', 'b', 'f', 'b'], [], byKey), [], 'every entry removed, a key named twice');
  t.strictSame(
    mergeSorted(list, ['d'], [{ key: 'a', rev: 1 }, { key: 'z', rev: 1 }, { key: 'd', rev: 1 }], byKey).map((i) => `${i.key}${i.rev}`),
    ['a1', 'b0', 'd1', 'f0', 'z1'],
  );
});

t.test('isStrictlySorted refuses an out-of-order list and a key twice', async (t) => {
  t.equal(isStrictlySorted([{ key: 'b', rev: 0 }, { key: 'a', rev: 0 }], byKey), false);
  t.equal(isStrictlySorted([{ key: 'a', rev: 0 }, { key: 'a', rev: 1 }], byKey), false);
  t.equal(isStrictlySorted([{ key: 'a', rev: 0 }, { key: 'b', rev: 0 }], byKey), true);
  t.equal(isStrictlySorted([], byKey), true);
});

t.test('many changed keys (more parts than one concat call takes) merge the same way', async (t) => {
  const pad = (n: number): string => String(n).padStart(5, '0');
  const list = Array.from({ length: 5000 }, (_, i) => ({ key: `k${pad(i * 2)}`, rev: 0 }));
  const removed = list.filter((_, i) => i % 2 === 0).map((i) => i.key);
  const inserted = Array.from({ length: 2000 }, (_, i) => ({ key: `k${pad(i * 4 + 1)}`, rev: 1 }));
  const got = mergeSorted(list, removed, inserted, byKey);
  const gone = new Set(removed);
  t.equal(removed.length + inserted.length, 4500, 'thousands of changes: past the single-concat bound');
  t.strictSame(got, sortBy([...list.filter((i) => !gone.has(i.key)), ...inserted], byKey));
});

t.test('more changed keys than the splice path takes: the run merge gives the same list', async (t) => {
  let runs = 0;
  const wide = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd', 'é'), minLength: 1, maxLength: 5 });
  fc.assert(
    fc.property(fc.uniqueArray(wide, { minLength: 50, maxLength: 300 }), fc.uniqueArray(wide, { minLength: 70, maxLength: 150 }), (held, changedKeys) => {
      const list = sortBy(held.map((k) => ({ key: k, rev: 0 })), byKey);
      // Half the changed keys are removed (held or not), the other half inserted (replacing any held entry).
      const half = changedKeys.length >> 1;
      const insertedKeys = changedKeys.slice(half);
      const removed = [...changedKeys.slice(0, half), ...insertedKeys.filter((k) => held.includes(k))];
      const inserted = insertedKeys.map((k) => ({ key: k, rev: 1 }));
      const gone = new Set(removed);
      t.strictSame(mergeSorted(list, removed, inserted, byKey), sortBy([...list.filter((i) => !gone.has(i.key)), ...inserted], byKey));
      runs += 1;
    }),
    { seed: SEED, numRuns: 60 },
  );
  t.equal(runs, 60, 'every generated case checked');
});

t.test('one or two edits (the copy-per-edit path): the same list as filtering, adding and sorting', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(fc.uniqueArray(key, { maxLength: 40 }), fc.array(key, { maxLength: 2 }), fc.uniqueArray(key, { maxLength: 2 }), (held, removedRaw, insertedKeys) => {
      const list = sortBy(held.map((k) => ({ key: k, rev: 0 })), byKey);
      const removed = [...removedRaw, ...insertedKeys.filter((k) => held.includes(k))];
      const inserted = insertedKeys.map((k) => ({ key: k, rev: 1 }));
      const got = mergeSorted(list, removed, inserted, byKey);
      const gone = new Set(removed);
      t.strictSame(got, sortBy([...list.filter((i) => !gone.has(i.key)), ...inserted], byKey));
      t.not(got, list, 'a new array, never the held one');
      runs += 1;
    }),
    { seed: SEED, numRuns: 300 },
  );
  t.equal(runs, 300, 'every generated case checked');
});
