/**
 * LayeredMap against a plain Map (fast-check, fixed seed): random sets and deletes over random
 * versions, across folds of the overlay; every version keeps the entries it had when it was
 * made, whatever its successors do.
 */
import t from 'tap';
import fc from 'fast-check';
import { LayeredMap, maxOverlay } from '../../../../src/mesh/snapshot-wire/layered-map.js';

type Op = { set: boolean; key: number; value: number };
const op = fc.record({ set: fc.boolean(), key: fc.integer({ min: 0, max: 300 }), value: fc.integer() });

const sorted = (entries: Iterable<[number, number]>): [number, number][] => [...entries].sort((a, b) => a[0] - b[0]);

t.test('every version equals its model and stays so', async (t) => {
  let versions = 0;
  let folds = 0;
  fc.assert(
    fc.property(fc.array(fc.array(op, { maxLength: 120 }), { minLength: 1, maxLength: 12 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer()), { maxLength: 200 }), (batches, initial) => {
      let model = new Map(initial);
      let map = LayeredMap.of(initial);
      const kept: [LayeredMap<number, number>, [number, number][]][] = [[map, sorted(model)]];
      for (const batch of batches) {
        const draft = map.edit();
        model = new Map(model);
        for (const o of batch as Op[]) {
          if (o.set) {
            draft.set(o.key, o.value);
            model.set(o.key, o.value);
          } else {
            draft.delete(o.key);
            model.delete(o.key);
          }
          if (draft.get(o.key) !== model.get(o.key)) throw new Error(`draft.get(${o.key})`);
          if (draft.has(o.key) !== model.has(o.key)) throw new Error(`draft.has(${o.key})`);
        }
        map = draft.done();
        kept.push([map, sorted(model)]);
      }
      for (const [m, entries] of kept) {
        t.strictSame(sorted(m), entries);
        t.equal(m.size, entries.length, 'size');
        for (const [k, v] of entries) if (m.get(k) !== v || !m.has(k)) throw new Error(`get(${k})`);
        for (let k = 0; k <= 300; k++) if (m.has(k) !== entries.some((e) => e[0] === k)) throw new Error(`has(${k})`);
        t.strictSame(sorted([...m.keys()].map((k) => [k, m.get(k)!])), entries, 'keys');
        t.same([...m.values()].sort((a, b) => a - b), entries.map((e) => e[1]).sort((a, b) => a - b), 'values');
        versions += 1;
      }
      folds += kept.slice(1).filter(([m]) => (m as unknown as { overlay: Map<unknown, unknown> }).overlay.size === 0).length;
    }),
    { seed: 1717, numRuns: 80 },
  );
  t.ok(versions > 200, `${versions} versions checked`);
  t.ok(folds > 0, `${folds} edited versions folded their overlay`);
});

t.test('the overlay is folded past its bound', async (t) => {
  t.equal(maxOverlay(0), 64);
  t.equal(maxOverlay(4000), 500);
  t.equal(maxOverlay(100_000), 1024);
  const big = LayeredMap.of(Array.from({ length: 100_000 }, (_, i): [number, number] => [i, i]));
  let map = big;
  for (let round = 0; round < 3; round++) {
    const d = map.edit();
    for (let i = 0; i < 400; i++) d.set(100_000 + round * 400 + i, i);
    map = d.done();
  }
  const overlay = (m: LayeredMap<number, number>): number => (m as unknown as { overlay: Map<unknown, unknown> }).overlay.size;
  t.equal(overlay(map), 0, '1,200 changed keys > 1,024: folded into a new base');
  t.equal(map.size, 101_200);
  t.equal(big.size, 100_000, 'the first version is unchanged');
  t.equal(big.get(100_000), undefined);
});
