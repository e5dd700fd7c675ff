/**
 * The one backoff (src/ops/backoff.ts): exponential growth, jitter within the upper half,
 * ceiling, reset, and `delayFor` for callers that count failures themselves.
 */
import t from 'tap';
import { Backoff } from '../../../src/ops/backoff.js';

t.test('doubles from the first delay to the ceiling with the jitter at its extremes', async (t) => {
  const low = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0 });
  t.same([1, 2, 3, 4, 5, 6].map(() => low.next()), [50, 100, 200, 400, 500, 500]);
  const high = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.999999 });
  t.same([1, 2, 3, 4, 5, 6].map(() => high.next()), [100, 200, 400, 800, 1_000, 1_000]);
  t.equal(high.attempts, 6);
});

t.test('reset starts over at the first delay', async (t) => {
  const b = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 });
  b.next();
  b.next();
  b.next();
  t.equal(b.attempts, 3);
  b.reset();
  t.equal(b.attempts, 0);
  t.equal(b.next(), 75);
});

t.test('delayFor does not count an attempt and matches next()', async (t) => {
  const b = new Backoff({ initialMs: 500, maxMs: 30_000, random: () => 0.5 });
  t.same([0, 1, 2, 10].map((n) => b.delayFor(n)), [375, 750, 1_500, 22_500]);
  t.equal(b.attempts, 0);
  t.equal(b.delayFor(-3), 375, 'a negative attempt is the first');
  t.equal(b.delayFor(10_000), 22_500, 'huge attempt counts neither overflow nor pass the ceiling');
});

t.test('the ceiling is never below the first delay, and defaults hold', async (t) => {
  t.equal(new Backoff({ initialMs: 2_000, maxMs: 10 }).maxMs, 2_000);
  const d = new Backoff();
  t.equal(d.initialMs, 200);
  t.equal(d.maxMs, 30_000);
  const delay = d.next();
  t.ok(delay >= 100 && delay < 200, `first default delay ${delay} in [100, 200)`);
});

t.test('with a real random source every delay stays within [base/2, base]', async (t) => {
  const b = new Backoff({ initialMs: 10, maxMs: 640 });
  const delays = Array.from({ length: 12 }, () => b.next());
  t.equal(delays.length, 12);
  const bases = [10, 20, 40, 80, 160, 320, 640, 640, 640, 640, 640, 640];
  t.same(delays.map((d, i) => d >= bases[i]! / 2 && d <= bases[i]!), bases.map(() => true));
});
