/**
 * The persisted snapshot's saves, coalesced (`save-coalescer.ts`): the first value at once, then
 * at most one save per interval with the newest value, never two at once, everything waiting
 * written by `flush`, nothing after `close`; the interval grows with a slow save. Driven by an
 * injected clock and by the saves' own promises, never by wall-clock waits.
 */
import t from 'tap';
import { SaveCoalescer } from '../../../src/agent/control/save-coalescer.js';

/** Lets promise chains settle (no wall-clock wait). */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A save that records its values and completes when the test says so. */
function recorder() {
  const saved: number[] = [];
  const finish: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const save = (v: number): Promise<void> =>
    new Promise((resolve) => {
      saved.push(v);
      running += 1;
      most = Math.max(most, running);
      finish.push(() => {
        running -= 1;
        resolve();
      });
    });
  return { saved, finish, save, most: () => most };
}

t.test('a burst of values: the first saved at once, the newest at the interval end, never two saves at once', async (t) => {
  let clock = 0;
  const r = recorder();
  const c = new SaveCoalescer({ save: r.save, minIntervalMs: 1_000_000, costFactor: 10, now: () => clock });
  for (let v = 1; v <= 100; v++) c.offer(v);
  t.same(r.saved, [1], 'one save for the first value, none yet for the 99 others');
  (r.finish.shift() as () => void)();
  await tick();
  t.same(r.saved, [1], 'still within the interval: the newest waits');
  clock = 1_000_000;
  const flushed = c.flush();
  await tick();
  t.same(r.saved, [1, 100], 'flush writes the newest waiting value, only it');
  (r.finish.shift() as () => void)();
  await flushed;
  t.equal(r.most(), 1, 'never two saves at once');
});

t.test('a value offered while a save runs waits for it and is not lost', async (t) => {
  let clock = 0;
  const r = recorder();
  const c = new SaveCoalescer({ save: r.save, minIntervalMs: 10, costFactor: 1, now: () => clock });
  c.offer(1);
  c.offer(2);
  clock = 50;
  (r.finish.shift() as () => void)();
  // The interval has passed when the first save ends: the newest goes at once.
  await tick();
  t.same(r.saved, [1, 2]);
  (r.finish.shift() as () => void)();
  await c.flush();
  t.same(r.saved, [1, 2], 'nothing left to write');
});

t.test('the interval grows with a slow save (costFactor times its duration)', async (t) => {
  let clock = 0;
  const r = recorder();
  const c = new SaveCoalescer({ save: r.save, minIntervalMs: 100, costFactor: 10, now: () => clock });
  c.offer(1);
  clock = 700;
  (r.finish.shift() as () => void)();
  await tick();
  t.equal(c.interval, 7000, 'a 700 ms save: 7 s before the next');
  clock = 6000;
  c.offer(2);
  await tick();
  t.same(r.saved, [1], 'not yet: 6 s after the last start, inside the 7 s');
  const closing = c.close();
  await tick();
  t.same(r.saved, [1, 2], 'close writes it now');
  (r.finish.shift() as () => void)();
  await closing;
});

t.test('close writes what waits, then takes nothing more', async (t) => {
  let clock = 0;
  const saved: number[] = [];
  const c = new SaveCoalescer({ save: async (v: number) => void saved.push(v), minIntervalMs: 1_000_000, costFactor: 1, now: () => clock });
  c.offer(1);
  c.offer(2);
  c.offer(3);
  await c.close();
  t.same(saved, [1, 3]);
  c.offer(4);
  await c.flush();
  t.same(saved, [1, 3], 'an offer after close is dropped');
  clock += 1;
});

t.test('a save that rejects does not stop the next ones', async (t) => {
  const saved: number[] = [];
  const c = new SaveCoalescer({
    save: async (v: number) => {
      saved.push(v);
      if (v === 1) throw new Error('disk full');
    },
    minIntervalMs: 0,
    costFactor: 0,
  });
  c.offer(1);
  await c.flush();
  c.offer(2);
  await c.flush();
  t.same(saved, [1, 2]);
});

t.test('drop forgets the value waiting and takes no more (a new agent owns the file after a handover)', async (t) => {
  const saved: number[] = [];
  const c = new SaveCoalescer({ save: async (v: number) => void saved.push(v), minIntervalMs: 1_000_000, costFactor: 1, now: () => 0 });
  c.offer(1);
  c.offer(2);
  c.drop();
  c.offer(3);
  await c.flush();
  t.same(saved, [1]);
});
