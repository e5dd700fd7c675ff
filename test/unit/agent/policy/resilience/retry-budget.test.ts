/**
 * The retry budget (Linkerd's): retries never exceed ratio x requests of the window plus the
 * reserve, whatever the interleaving (a property over generated sequences), deposits expire
 * after the TTL, and the reserve alone lets a quiet service retry.
 */
import t from 'tap';
import fc from 'fast-check';
import { RetryBudgetState } from '../../../../../src/agent/policy/resilience/retry-budget.js';

t.test('with no request, only the reserve: minPerSecond x ttl seconds', async (t) => {
  const b = new RetryBudgetState({ ratio: 0.2, minPerSecond: 2, ttlMs: 5000 });
  let granted = 0;
  for (let i = 0; i < 100; i++) if (b.withdraw(1000)) granted++;
  t.equal(granted, 10, '2/s over a 5 s window');
});

t.test('the ratio of requests, on top of the reserve', async (t) => {
  const b = new RetryBudgetState({ ratio: 0.2, minPerSecond: 0, ttlMs: 10_000 });
  for (let i = 0; i < 1000; i++) b.deposit(i);
  let granted = 0;
  for (let i = 0; i < 1000; i++) if (b.withdraw(1000 + i)) granted++;
  t.equal(granted, 200, '20% of 1,000 requests');
});

t.test('deposits expire after the ttl; withdrawals too', async (t) => {
  const b = new RetryBudgetState({ ratio: 1, minPerSecond: 0, ttlMs: 1000 });
  for (let i = 0; i < 50; i++) b.deposit(0);
  t.equal(b.balance(500), 50);
  t.equal(b.balance(1100), 0, 'a window later the deposits are gone');
  for (let i = 0; i < 10; i++) b.deposit(2000);
  for (let i = 0; i < 10; i++) t.ok(b.withdraw(2000));
  t.notOk(b.withdraw(2000), 'spent');
  b.deposit(3500);
  t.ok(b.withdraw(3500), 'the old withdrawals expired with their window');
});

t.test('a clock that jumps backwards is read as the current slot', async (t) => {
  const b = new RetryBudgetState({ ratio: 1, minPerSecond: 0, ttlMs: 1000 });
  b.deposit(10_000);
  t.ok(b.withdraw(5_000));
  t.notOk(b.withdraw(5_000));
});

t.test('property: in every window, granted retries <= ratio x its requests + the reserve (against a naive model)', async (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(
        fc.record({ ratio: fc.double({ min: 0, max: 1, noNaN: true }), minPerSecond: fc.integer({ min: 0, max: 5 }), ttlMs: fc.integer({ min: 100, max: 5000 }) }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 300 }),
        (budget, ops) => {
          const b = new RetryBudgetState(budget);
          const slotMs = Math.max(1, budget.ttlMs / 10);
          const events: { slot: number; deposit: boolean }[] = [];
          let now = 0;
          for (const [isRequest, dt] of ops) {
            now += dt;
            const slot = Math.floor(now / slotMs);
            if (isRequest) {
              b.deposit(now);
              events.push({ slot, deposit: true });
              continue;
            }
            const live = events.filter((e) => e.slot > slot - 10);
            const deposits = live.filter((e) => e.deposit).length;
            const withdrawals = live.length - deposits;
            const allowed = deposits * budget.ratio + budget.minPerSecond * (budget.ttlMs / 1000) - withdrawals >= 1;
            if (b.withdraw(now) !== allowed) return false;
            if (allowed) events.push({ slot, deposit: false });
          }
          return true;
        },
      ),
    ),
  );
});
