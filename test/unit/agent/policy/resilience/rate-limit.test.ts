/**
 * Local rate limits, the pure part (src/agent/policy/resilience/rate-limit.ts): rule matching by
 * source identity and headers, bucket names, all-or-none charging, the 429 headers, and the
 * bounded per-source store attacked with many identities.
 */
import t from 'tap';
import type { InboundRateRule } from '../../../../../src/agent/policy/resilience/inbound-policies.js';
import {
  BucketStore,
  bucketKey,
  chargesFor,
  LocalRateLimiter,
  MAX_SOURCE_BUCKETS,
  rateLimitHeaders,
  ruleMatches,
  takeAll,
} from '../../../../../src/agent/policy/resilience/rate-limit.js';
import { rule } from './inbound-fixture.js';

const ALICE = 'spiffe://cluster.local/ns/demo/sa/alice';
const BOB = 'spiffe://cluster.local/ns/demo/sa/bob';
const ref = (id: string, r = rule(2, 1000)): InboundRateRule => ({ id, policy: id.split('#')[0] as string, index: 0, rule: r });

t.test('ruleMatches: sources are exact authenticated identities; plaintext matches only a rule without sources', async (t) => {
  const r = rule(1, 1000, { sources: [ALICE] });
  t.equal(ruleMatches(r, { identity: ALICE, headers: {} }), true);
  t.equal(ruleMatches(r, { identity: BOB, headers: {} }), false);
  t.equal(ruleMatches(r, { identity: undefined, headers: {} }), false);
  t.equal(ruleMatches(r, { identity: `${ALICE}/`, headers: {} }), false, 'no prefix match');
  t.equal(ruleMatches(rule(1, 1000), { identity: undefined, headers: {} }), true);
});

t.test('ruleMatches: headers exact or present, all of them', async (t) => {
  const r = rule(1, 1000, { headers: [{ name: 'x-tier', value: 'free' }, { name: 'x-user' }] });
  t.equal(ruleMatches(r, { identity: ALICE, headers: { 'x-tier': 'free', 'x-user': 'u1' } }), true);
  t.equal(ruleMatches(r, { identity: ALICE, headers: { 'x-tier': 'Free', 'x-user': 'u1' } }), false, 'exact, case-sensitive value');
  t.equal(ruleMatches(r, { identity: ALICE, headers: { 'x-tier': 'free' } }), false, 'x-user absent');
  t.equal(ruleMatches(r, { identity: ALICE, headers: { 'x-tier': ['paid', 'free'], 'x-user': '' } }), true, 'any of several values');
});

t.test('chargesFor: one charge per matching rule; per-source buckets by identity, plaintext shares one', async (t) => {
  const shared = ref('demo/p#0');
  const per = ref('demo/p#1', rule(1, 1000, { perSource: true }));
  const onlyBob = ref('demo/p#2', rule(1, 1000, { sources: [BOB] }));
  const c = chargesFor([shared, per, onlyBob], 'Pod/demo/api', { identity: ALICE, headers: {} });
  t.same(c.map((x) => x.key), ['demo/p#0|Pod/demo/api', `demo/p#1|Pod/demo/api|s:${ALICE}`]);
  t.same(chargesFor([per], 'Pod/demo/api', { identity: undefined, headers: {} }).map((x) => x.key), ['demo/p#1|Pod/demo/api|s:']);
  t.equal(bucketKey('demo/p#1', 'Pod/demo/api', ''), 'demo/p#1|Pod/demo/api|s:');
  t.equal(bucketKey('demo/p#1', 'Pod/demo/api', undefined), 'demo/p#1|Pod/demo/api');
});

t.test('chargesFor: rules that read nothing of the request are charged from one list made once per workload', async (t) => {
  const rules = [ref('demo/p#0'), ref('demo/p#1', rule(5, 1000))];
  const first = chargesFor(rules, 'w', { identity: ALICE, headers: {} });
  t.equal(chargesFor(rules, 'w', { identity: BOB, headers: { 'x-any': 'thing' } }), first, 'the same list whoever asks');
  t.same(first.map((c) => c.key), ['demo/p#0|w', 'demo/p#1|w']);
  t.same(chargesFor(rules, 'v', { identity: ALICE, headers: {} }).map((c) => c.key), ['demo/p#0|v', 'demo/p#1|v'], 'another workload, its own list');
  t.ok(Object.isFrozen(first), 'shared, so frozen');
  const conditional = [ref('demo/p#0'), ref('demo/p#2', rule(1, 1000, { headers: [{ name: 'x-tier', value: 'free' }] }))];
  t.same(chargesFor(conditional, 'w', { identity: ALICE, headers: {} }).map((c) => c.key), ['demo/p#0|w'], 'a header rule still reads the request');
  t.same(chargesFor(conditional, 'w', { identity: ALICE, headers: { 'x-tier': 'free' } }).map((c) => c.key), ['demo/p#0|w', 'demo/p#2|w']);
  const per = [ref('demo/p#3', rule(1, 1000, { perSource: true }))];
  t.not(chargesFor(per, 'w', { identity: ALICE, headers: {} })[0]?.key, chargesFor(per, 'w', { identity: BOB, headers: {} })[0]?.key, 'per source: never shared');
});

t.test('takeAll: refused when any bucket is empty, and then takes from none', async (t) => {
  const store = new BucketStore();
  const big = ref('demo/p#0', rule(10, 1000));
  const small = ref('demo/p#1', rule(1, 1000));
  const charges = chargesFor([big, small], 'w', { identity: ALICE, headers: {} });
  t.equal(takeAll(store, charges, 0), undefined);
  const refusal = takeAll(store, charges, 0);
  t.equal(refusal?.rule, small.rule, 'the rule with no token');
  t.equal(refusal?.resetMs, 1000);
  t.equal(store.bucket('demo/p#0|w', big.rule, false, 0).tokens(0), 9, 'the refused request took no token from the big bucket');
});

t.test('LocalRateLimiter: per-source buckets keep sources apart', async (t) => {
  const limiter = new LocalRateLimiter();
  const per = [ref('demo/p#0', rule(1, 1000, { perSource: true }))];
  const alice = chargesFor(per, 'w', { identity: ALICE, headers: {} });
  const bob = chargesFor(per, 'w', { identity: BOB, headers: {} });
  t.equal(limiter.take(alice, 0), undefined);
  t.not(limiter.take(alice, 0), undefined, 'alice spent hers');
  t.equal(limiter.take(bob, 0), undefined, 'bob has his own');
  t.equal(limiter.take([], 0), undefined, 'no rule: admitted');
});

t.test('a changed rule gets a new, full bucket', async (t) => {
  const store = new BucketStore();
  const c1 = chargesFor([ref('demo/p#0', rule(1, 1000))], 'w', { identity: ALICE, headers: {} });
  t.equal(takeAll(store, c1, 0), undefined);
  t.not(takeAll(store, c1, 0), undefined);
  const c2 = chargesFor([ref('demo/p#0', rule(3, 1000))], 'w', { identity: ALICE, headers: {} });
  t.equal(takeAll(store, c2, 0), undefined);
});

t.test('attack: a flood of identities is bounded by the LRU and never refills a shared bucket', async (t) => {
  const store = new BucketStore(100);
  const shared = ref('demo/p#0', rule(5, 60_000));
  const per = ref('demo/p#1', rule(1000, 60_000, { perSource: true }));
  for (let i = 0; i < 5; i++) t.equal(takeAll(store, chargesFor([shared, per], 'w', { identity: `${ALICE}-${i}`, headers: {} }), 0), undefined);
  for (let i = 0; i < 10_000; i++) takeAll(store, chargesFor([per], 'w', { identity: `spiffe://evil/${i}`, headers: {} }), 0);
  t.equal(store.size.perSource, 100, 'per-source buckets stay at the bound');
  t.equal(store.size.shared, 1);
  t.not(takeAll(store, chargesFor([shared], 'w', { identity: ALICE, headers: {} }), 0), undefined, 'the shared bucket is still empty');
  t.equal(MAX_SOURCE_BUCKETS, 10_000);
});

t.test('attack: an LRU bucket in use is the last to go', async (t) => {
  const store = new BucketStore(2);
  const per = ref('demo/p#0', rule(1, 60_000, { perSource: true }));
  const take = (id: string) => takeAll(store, chargesFor([per], 'w', { identity: id, headers: {} }), 0);
  t.equal(take(ALICE), undefined);
  t.equal(take(BOB), undefined);
  t.not(take(ALICE), undefined, 'alice is the most recent now');
  t.equal(take('spiffe://x/3'), undefined, 'a third evicts bob, the least recent');
  t.not(take(ALICE), undefined, 'alice kept her (empty) bucket');
  t.equal(store.size.perSource, 2);
});

t.test('prune drops buckets whose rule is gone', async (t) => {
  const store = new BucketStore();
  takeAll(store, chargesFor([ref('demo/p#0'), ref('demo/q#0', rule(1, 1000, { perSource: true }))], 'w', { identity: ALICE, headers: {} }), 0);
  store.prune((k) => k.startsWith('demo/p#'));
  t.same(store.size, { shared: 1, perSource: 0 });
});

t.test('rateLimitHeaders: limit, nothing remaining, reset and Retry-After in whole seconds (at least 1)', async (t) => {
  t.same(rateLimitHeaders({ rule: rule(100, 1000), resetMs: 10 }), { 'ratelimit-limit': '100', 'ratelimit-remaining': '0', 'ratelimit-reset': '1', 'retry-after': '1' });
  t.same(rateLimitHeaders({ rule: rule(10, 60_000), resetMs: 5_500 }), { 'ratelimit-limit': '10', 'ratelimit-remaining': '0', 'ratelimit-reset': '6', 'retry-after': '6' });
  t.equal(rateLimitHeaders({ rule: rule(1, 120_000), resetMs: 0 })['retry-after'], '120', 'no reset known: a token\'s refill time');
});
