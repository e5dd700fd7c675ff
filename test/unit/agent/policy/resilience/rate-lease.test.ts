/**
 * Rate limits shared by the agent's worker processes: the primary's TokenGrants
 * (src/agent/workers/token-grants.ts) and each worker's LeasedRateLimiter
 * (src/agent/workers/rate-lease.ts), joined by an in-memory channel on a fake clock: 100/s for
 * 10 s admits 1,000 +-5% for 1, 2 and 4 workers; a per-source rule through leases; the primary
 * never trusts the ask (unknown rule, foreign workload, hostile want); the `tokens` message is
 * checked by parseWorkerMessage; waiters and leases are bounded.
 */
import t from 'tap';
import { chargesFor, type RateRefusal } from '../../../../../src/agent/policy/resilience/rate-limit.js';
import { inboundPolicies } from '../../../../../src/agent/policy/resilience/inbound-policies.js';
import { LEASE_TTL_MS, LeasedRateLimiter, leaseSize, MAX_LEASE, MAX_LEASES, MAX_WAITERS, type LeaseAsk } from '../../../../../src/agent/workers/rate-lease.js';
import { TokenGrants } from '../../../../../src/agent/workers/token-grants.js';
import { MAX_TOKENS_ASKED, parseWorkerMessage } from '../../../../../src/agent/workers/protocol.js';
import { indexOf, rule, service, trafficPolicy, workload } from './inbound-fixture.js';

const api = workload('api', '198.18.1.10');
const ALICE = 'spiffe://cluster.local/ns/demo/sa/alice';
const policy = trafficPolicy('limits', { rateLimit: { rules: [rule(100, 1000)] } });
const index = indexOf([service('api', [api], 80, 8080, policy)], [api]);
const charges = chargesFor(inboundPolicies(index, api.uid, 8080).rateRules, api.uid, { identity: ALICE, headers: {} });

/** Workers joined to one primary; an ask is answered after a microtask (an IPC hop). */
function cluster(n: number, clock: { now: number }) {
  const grants = new TokenGrants(() => clock.now);
  grants.setIndex(index);
  const workers: LeasedRateLimiter[] = [];
  for (let i = 0; i < n; i++) {
    const w: LeasedRateLimiter = new LeasedRateLimiter((ask: LeaseAsk) => {
      queueMicrotask(() => w.onGrant(grants.grant(ask)));
    }, () => clock.now);
    workers.push(w);
  }
  return { grants, workers };
}

async function outcome(v: RateRefusal | undefined | Promise<RateRefusal | undefined>): Promise<boolean> {
  return (await v) === undefined;
}

for (const n of [1, 2, 4]) {
  t.test(`${n} worker(s): 100/s for 10 s, offered 300/s, admits 1,000 +-5% after the burst`, async (t) => {
    const clock = { now: 0 };
    const { workers } = cluster(n, clock);
    // Empty the burst first: the steady state is what "100/s" promises.
    let burst = 0;
    for (let i = 0; i < 200; i++) if (await outcome((workers[i % n] as LeasedRateLimiter).take(charges, clock.now))) burst++;
    t.ok(burst <= 100, `the burst admits at most 100 (${burst})`);
    let admitted = 0;
    let k = 0;
    for (clock.now = 1; clock.now <= 10_000; clock.now += 1) {
      if (clock.now % 10 === 0 || clock.now % 10 === 3 || clock.now % 10 === 7) {
        if (await outcome((workers[k++ % n] as LeasedRateLimiter).take(charges, clock.now))) admitted++;
      }
    }
    t.ok(admitted >= 950, `at least 950 (${admitted})`);
    t.ok(admitted <= 1050, `at most 1,050 (${admitted})`);
  });
}

t.test('a lease is 50 ms of the rate, 1..MAX_LEASE', async (t) => {
  t.equal(leaseSize({ requests: 100, periodMs: 1000 }), 5);
  t.equal(leaseSize({ requests: 1, periodMs: 60_000 }), 1);
  t.equal(leaseSize({ requests: 1_000_000, periodMs: 1000 }), MAX_LEASE);
});

t.test('per-source rule through leases: each identity its own bucket in the primary', async (t) => {
  const per = trafficPolicy('per', { rateLimit: { rules: [rule(2, 60_000, { perSource: true })] } });
  const idx = indexOf([service('api', [api], 80, 8080, per)], [api]);
  const grants = new TokenGrants(() => 0);
  grants.setIndex(idx);
  const rules = inboundPolicies(idx, api.uid, 8080).rateRules;
  const w: LeasedRateLimiter = new LeasedRateLimiter((ask) => queueMicrotask(() => w.onGrant(grants.grant(ask))), () => 0);
  const as = (id: string | undefined) => chargesFor(rules, api.uid, { identity: id, headers: {} });
  t.equal(await outcome(w.take(as(ALICE), 0)), true);
  t.equal(await outcome(w.take(as(ALICE), 0)), true);
  t.equal(await outcome(w.take(as(ALICE), 0)), false, 'alice spent her two');
  t.equal(await outcome(w.take(as('spiffe://cluster.local/ns/demo/sa/bob'), 0)), true, 'bob has his own');
  t.equal(await outcome(w.take(as(undefined), 0)), true, 'plaintext sources share one');
  t.same(grants.size, { shared: 0, perSource: 3 });
});

t.test('the primary trusts nothing in an ask', async (t) => {
  const grants = new TokenGrants(() => 0);
  t.same(grants.grant({ id: 1, rule: 'demo/limits#0', workload: api.uid, want: 5 }), { id: 1, granted: 0, unknown: true }, 'no snapshot yet');
  grants.setIndex(index);
  t.same(grants.grant({ id: 2, rule: 'demo/limits#9', workload: api.uid, want: 5 }), { id: 2, granted: 0, unknown: true }, 'no such rule');
  t.same(grants.grant({ id: 3, rule: 'demo/limits#0', workload: 'Pod/demo/made-up', want: 5 }), { id: 3, granted: 0, unknown: true }, 'no such workload: no bucket made for it');
  t.same(grants.grant({ id: 4, rule: 'demo/limits#0', workload: api.uid, want: 1_000_000 }), { id: 4, granted: MAX_LEASE }, 'a lease at most');
  t.same(grants.grant({ id: 5, rule: 'demo/limits#0', workload: api.uid, source: 'spiffe://x', want: 100 }), { id: 5, granted: 100 - MAX_LEASE }, 'a source on a shared rule is ignored: the same bucket');
  t.same(grants.size, { shared: 1, perSource: 0 });
  grants.setIndex(indexOf([service('api', [api], 80, 8080)], [api]));
  t.same(grants.size, { shared: 0, perSource: 0 }, 'a snapshot without the rule drops its bucket');
});

t.test('parseWorkerMessage checks a tokens ask', async (t) => {
  const ok = { type: 'tokens', id: 1, rule: 'demo/limits#0', workload: api.uid, want: 5 };
  t.same(parseWorkerMessage(ok), ok);
  t.same(parseWorkerMessage({ ...ok, source: ALICE }), { ...ok, source: ALICE });
  t.match(parseWorkerMessage({ ...ok, want: 0 }), /want must be an integer/);
  t.match(parseWorkerMessage({ ...ok, want: MAX_TOKENS_ASKED + 1 }), /want must be an integer/);
  t.match(parseWorkerMessage({ ...ok, want: 2.5 }), /want must be an integer/);
  t.match(parseWorkerMessage({ ...ok, want: '5' }), /want must be an integer/);
  t.match(parseWorkerMessage({ ...ok, id: -1 }), /id must be/);
  t.match(parseWorkerMessage({ ...ok, rule: 'x'.repeat(10_000) }), /rule and workload/);
  t.match(parseWorkerMessage({ ...ok, workload: 7 }), /rule and workload/);
  t.match(parseWorkerMessage({ ...ok, source: { toString: 'x' } }), /source must be/);
});

t.test('a primary that does not answer: the request waits a few ms, then is refused', async (t) => {
  const asks: LeaseAsk[] = [];
  const w = new LeasedRateLimiter((ask) => asks.push(ask), () => 0);
  const started = performance.now();
  const r = await w.take(charges, 0);
  t.equal(r?.rule.requests, 100, 'refused, naming the rule');
  t.ok(performance.now() - started < 1000, 'bounded wait');
  t.equal(asks.length, 1);
  const late = asks[0] as LeaseAsk;
  w.onGrant({ id: late.id, granted: 5 });
  t.equal(await outcome(w.take(charges, 0)), true, 'a late answer still adds its tokens');
});

t.test('attack: waiters on one empty lease are bounded; the rest are refused at once', async (t) => {
  const asks: LeaseAsk[] = [];
  const w = new LeasedRateLimiter((ask) => asks.push(ask), () => 0);
  const pending: (RateRefusal | undefined | Promise<RateRefusal | undefined>)[] = [];
  for (let i = 0; i < MAX_WAITERS + 50; i++) pending.push(w.take(charges, 0));
  const waiting = pending.filter((p) => p instanceof Promise).length;
  t.equal(waiting, MAX_WAITERS);
  t.equal(asks.length, 1, 'one ask in flight for them all');
  w.onGrant({ id: (asks[0] as LeaseAsk).id, granted: 3 });
  const results = await Promise.all(pending);
  t.equal(results.filter((r) => r === undefined).length, 3, 'as many admitted as tokens granted');
});

t.test('an unknown rule at the primary (a newer snapshot dropped it) admits for a while', async (t) => {
  const w: LeasedRateLimiter = new LeasedRateLimiter((ask) => queueMicrotask(() => w.onGrant({ id: ask.id, granted: 0, unknown: true })), () => 0);
  t.equal(await outcome(w.take(charges, 0)), true);
  t.equal(await outcome(w.take(charges, 0)), true);
});

t.test('attack: a flood of source identities keeps the leases and the remembered asks bounded', async (t) => {
  const per = trafficPolicy('per', { rateLimit: { rules: [rule(10, 1000, { perSource: true })] } });
  const idx = indexOf([service('api', [api], 80, 8080, per)], [api]);
  const rules = inboundPolicies(idx, api.uid, 8080).rateRules;
  let sent = 0;
  const w = new LeasedRateLimiter(() => void sent++, () => 0);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < MAX_LEASES + 2000; i++) {
    const v = w.take(chargesFor(rules, api.uid, { identity: `spiffe://evil/ns/x/sa/${i}`, headers: {} }), 0);
    if (v instanceof Promise) pending.push(v);
  }
  t.equal(w.size, MAX_LEASES, 'leases stay at the bound');
  t.equal(sent, MAX_LEASES + 2000, 'one ask per new identity');
  const results = await Promise.all(pending);
  t.equal(results.filter((r) => r === undefined).length, 0, 'no answer: every one refused after its wait');
});

t.test(`a lease not spent within ${LEASE_TTL_MS} ms is dropped: old tokens do not add to a later burst`, async (t) => {
  const clock = { now: 0 };
  const { grants, workers } = cluster(2, clock);
  const [a, b] = workers as [LeasedRateLimiter, LeasedRateLimiter];
  t.equal(await outcome(a.take(charges, 0)), true, 'worker a holds a lease now');
  t.equal(await outcome(b.take(charges, 0)), true, 'so does b');
  clock.now = 10_000;
  // The bucket is full again (100); a and b hold leftovers from 10 s ago, which must not count.
  let admitted = 0;
  for (let i = 0; i < 300; i++) if (await outcome((i % 2 === 0 ? a : b).take(charges, clock.now))) admitted++;
  t.equal(admitted, 100, 'the burst of one bucket, no more');
  t.same(grants.size, { shared: 1, perSource: 0 });
});
