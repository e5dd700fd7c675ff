import t from 'tap';
import { pino } from 'pino';
import { LeaderElector, type LeaseApi, type LeaseRecord } from '../../../src/controller/leader-election.js';

const logger = pino({ level: 'silent' });

/** A Lease store with the API server's optimistic concurrency: stale resourceVersion -> conflict. */
class FakeLeases {
  lease: LeaseRecord | undefined;
  down = false;
  private rv = 0;
  api(): LeaseApi {
    const conflict = (): Error => Object.assign(new Error('conflict'), { conflict: true });
    const check = (): void => {
      if (this.down) throw new Error('API unreachable');
    };
    return {
      read: async () => {
        check();
        return this.lease;
      },
      create: async (holder, durationSeconds) => {
        check();
        if (this.lease !== undefined) throw conflict();
        this.lease = { holder, durationSeconds, transitions: 0, resourceVersion: String(++this.rv) };
        return this.lease;
      },
      update: async (next) => {
        check();
        if (this.lease?.resourceVersion !== next.resourceVersion) throw conflict();
        this.lease = { ...next, resourceVersion: String(++this.rv) };
        return this.lease;
      },
    };
  }
}

function elector(leases: FakeLeases, identity: string, clock: { now: number }): LeaderElector {
  return new LeaderElector({ api: leases.api(), identity, logger, leaseDurationMs: 15_000, renewIntervalMs: 20, retryIntervalMs: 20, now: () => clock.now });
}

t.test('one replica leads; the other waits until the lease expires', async (t) => {
  const leases = new FakeLeases();
  const clock = { now: 1_000_000 };
  const a = elector(leases, 'pod-a', clock);
  const b = elector(leases, 'pod-b', clock);
  t.equal(await a.tryAcquireOrRenew(), true, 'a creates the lease');
  t.equal(await b.tryAcquireOrRenew(), false, 'b sees a live holder');
  t.equal(await a.tryAcquireOrRenew(), true, 'a renews');
  t.equal(await b.tryAcquireOrRenew(), false, 'b: a just renewed');
  clock.now += 16_000; // a stops renewing (crash): 15 s later, by b's own clock
  t.equal(await b.tryAcquireOrRenew(), true, 'b takes over an expired lease');
  t.equal(leases.lease?.holder, 'pod-b');
  t.equal(leases.lease?.transitions, 1, 'the transition is counted');
  t.equal(await a.tryAcquireOrRenew(), false, 'a, back, does not steal it');
});

t.test('two replicas racing for a free lease: exactly one wins', async (t) => {
  const leases = new FakeLeases();
  const clock = { now: 0 };
  const results = await Promise.all([elector(leases, 'a', clock).tryAcquireOrRenew(), elector(leases, 'b', clock).tryAcquireOrRenew()]);
  t.same(results.filter(Boolean).length, 1, 'one winner');
});

t.test('release hands over at once; losing the API for a lease duration ends leadership', async (t) => {
  const leases = new FakeLeases();
  const clock = { now: 0 };
  const a = elector(leases, 'pod-a', clock);
  let lostA = 0;
  await a.acquire(() => void lostA++);
  t.equal(a.isLeader, true);
  await a.release();
  t.equal(leases.lease?.holder, '', 'released: holder cleared');
  const b = elector(leases, 'pod-b', clock);
  t.equal(await b.tryAcquireOrRenew(), true, 'b takes a released lease without waiting for expiry');

  let lost = 0;
  let tellLost = (): void => undefined;
  const lostOnce = new Promise<void>((resolve) => (tellLost = resolve));
  const c = elector(leases, 'pod-c', clock);
  t.equal(await c.tryAcquireOrRenew(), false, 'c sees b holding it');
  clock.now += 16_000; // b stops renewing; c judges expiry by when it saw the lease change
  await c.acquire(() => {
    lost++;
    tellLost();
  });
  t.equal(c.isLeader, true, 'c leads after b expired');
  leases.down = true;
  clock.now += 16_000;
  // The next renewal fails a lease duration after the last one: the event, not a pause, ends
  // the wait. Then a negative check (no event marks "not called again"): five renewal
  // intervals in which an elector that kept renewing would call onLost again.
  await lostOnce;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(lost, 1, 'c gave up leadership once renewing failed for a lease duration');
  t.equal(c.isLeader, false);
  await c.release();
  t.equal(lostA, 0, 'a released cleanly, it did not lose');
});
