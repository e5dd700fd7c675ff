/**
 * The token bucket of local rate limits (src/agent/policy/resilience/token-bucket.ts) on a fake
 * clock: starts full, refills continuously up to its burst, leases whole tokens, gives back.
 */
import t from 'tap';
import { refillMs, TokenBucket } from '../../../../../src/agent/policy/resilience/token-bucket.js';

t.test('starts full and refuses once the burst is spent', async (t) => {
  const b = new TokenBucket({ requests: 3, periodMs: 1000 }, 0);
  t.equal(b.tryTake(0), true);
  t.equal(b.tryTake(0), true);
  t.equal(b.tryTake(0), true);
  t.equal(b.tryTake(0), false, 'the fourth at the same instant has no token');
});

t.test('refills continuously: a token every period / requests, never past the burst', async (t) => {
  const b = new TokenBucket({ requests: 10, periodMs: 1000 }, 0);
  t.equal(b.takeUpTo(10, 0), 10);
  t.equal(b.tryTake(99), false, '99 ms: 0.99 of a token');
  t.equal(b.tryTake(100), true, '100 ms: one token');
  t.equal(b.tokens(1_000_000), 10, 'an hour later: the burst, not more');
});

t.test('over 10 s at 100/s a drained bucket admits 1,000 (and the burst on top when it starts full)', async (t) => {
  const b = new TokenBucket({ requests: 100, periodMs: 1000 }, 0);
  let admitted = 0;
  for (let now = 0; now < 10_000; now += 1) if (b.tryTake(now)) admitted++;
  t.equal(admitted, 100 + 999, 'the burst of 100, then one token each 10 ms (the one at 10,000 ms is outside)');
});

t.test('takeUpTo takes whole tokens only, and never more than asked', async (t) => {
  const b = new TokenBucket({ requests: 5, periodMs: 1000 }, 0);
  t.equal(b.takeUpTo(2, 0), 2);
  t.equal(b.takeUpTo(10, 0), 3);
  t.equal(b.takeUpTo(10, 300), 1, '1.5 tokens made in 300 ms: one whole');
  t.equal(b.takeUpTo(-4, 10_000), 0, 'a negative ask takes nothing');
  t.equal(b.takeUpTo(Number.NaN, 10_000), 0, 'NaN takes nothing');
});

t.test('giveBack returns unused tokens, capped at the capacity', async (t) => {
  const b = new TokenBucket({ requests: 4, periodMs: 1000 }, 0);
  b.takeUpTo(4, 0);
  b.giveBack(2, 0);
  t.equal(b.tokens(0), 2);
  b.giveBack(100, 0);
  t.equal(b.tokens(0), 4);
});

t.test('a clock that goes back removes no token', async (t) => {
  const b = new TokenBucket({ requests: 2, periodMs: 1000 }, 5000);
  t.equal(b.takeUpTo(1, 5000), 1);
  t.equal(b.tokens(0), 1);
  t.equal(b.tokens(5500), 2);
});

t.test('msUntilToken and refillMs', async (t) => {
  const b = new TokenBucket({ requests: 10, periodMs: 1000 }, 0);
  t.equal(b.msUntilToken(0), 0);
  b.takeUpTo(10, 0);
  t.equal(b.msUntilToken(0), 100);
  t.equal(Math.round(b.msUntilToken(40)), 60);
  t.equal(refillMs({ requests: 100, periodMs: 60_000 }), 600);
});

t.test('hasRate tells a changed rule', async (t) => {
  const b = new TokenBucket({ requests: 10, periodMs: 1000 }, 0);
  t.equal(b.hasRate({ requests: 10, periodMs: 1000 }), true);
  t.equal(b.hasRate({ requests: 10, periodMs: 2000 }), false);
  t.equal(b.hasRate({ requests: 20, periodMs: 1000 }), false);
});

t.test('spend goes into debt, the refill pays it back first, and msUntilLevel tells when', async (t) => {
  const b = new TokenBucket({ requests: 1000, periodMs: 1000 }, 0);
  t.equal(b.spend(1500, 0), -500, 'a debt: the bytes of a chunk already read are charged whole');
  t.equal(b.tryTake(0), false, 'no whole token while in debt');
  t.equal(b.msUntilLevel(0, 0), 500, '500 ms to pay 500 at 1 per ms');
  t.equal(b.msUntilLevel(0, 200), 300);
  t.equal(b.tokens(500), 0);
  t.equal(b.msUntilLevel(0, 500), 0);
  t.equal(b.spend(0, 500), 0, 'spending nothing changes nothing');
  t.equal(b.spend(-5, 500), 0, 'a negative amount is not a gift');
  t.equal(b.tokens(5000), 1000, 'refilled up to the burst only');
});
