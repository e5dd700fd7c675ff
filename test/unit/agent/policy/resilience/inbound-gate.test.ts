/**
 * The destination's resilience stage (src/agent/policy/resilience/inbound-gate.ts) on a fake
 * clock: rate limits before adaptive concurrency, the metrics each refusal feeds, the limits
 * gauge, and what a new snapshot keeps (a controller whose policy is unchanged) and drops.
 */
import t from 'tap';
import { FREE_PASSAGE, InboundGate, type GateVerdict } from '../../../../../src/agent/http/inbound-gate.js';
import { LocalRateLimiter } from '../../../../../src/agent/policy/resilience/rate-limit.js';
import { ADAPTIVE, indexOf, rule, service, trafficPolicy, workload } from './inbound-fixture.js';

const api = workload('api', '198.18.1.10');
const ALICE = { identity: 'spiffe://cluster.local/ns/demo/sa/alice', headers: {} };

function recorder() {
  const calls: string[] = [];
  return { calls, metrics: { limited: (scope: string, target: string) => void calls.push(`limited ${scope} ${target}`), overflow: (svc: string, th: string) => void calls.push(`overflow ${svc} ${th}`) } };
}

function sync(v: GateVerdict | Promise<GateVerdict>): GateVerdict {
  if (v instanceof Promise) throw new Error('a local gate answers at once');
  return v;
}

t.test('no policy: the free passage, nothing kept', async (t) => {
  const gate = new InboundGate({ now: () => 0 });
  const index = indexOf([service('api', [api], 80, 8080)], [api]);
  t.same(sync(gate.enter(index, api.uid, 8080, ALICE)), { pass: FREE_PASSAGE });
  t.same(gate.limits(), []);
});

t.test('rate limited: 429 headers and limited(inbound, namespace/name)', async (t) => {
  const { calls, metrics } = recorder();
  const gate = new InboundGate({ now: () => 0, metrics });
  const index = indexOf([service('api', [api], 80, 8080, trafficPolicy('p', { rateLimit: { rules: [rule(1, 1000)] } }))], [api]);
  t.match(sync(gate.enter(index, api.uid, 8080, ALICE)), { pass: {} });
  t.match(sync(gate.enter(index, api.uid, 8080, ALICE)), { refused: 'rate_limited', headers: { 'ratelimit-limit': '1', 'retry-after': '1' } });
  t.same(calls, ['limited inbound demo/api']);
});

t.test('adaptive: refused past the limit with overflow(service, adaptive_concurrency); released places are free again', async (t) => {
  const { calls, metrics } = recorder();
  const gate = new InboundGate({ now: () => 0, metrics });
  const index = indexOf([service('api', [api], 80, 8080, trafficPolicy('p', { adaptiveConcurrency: ADAPTIVE }))], [api]);
  const held = [1, 2, 3].map(() => sync(gate.enter(index, api.uid, 8080, ALICE)));
  t.same(held.map((v) => 'pass' in v), [true, true, true], 'minConcurrency (3) while the minimum RTT is measured');
  t.same(sync(gate.enter(index, api.uid, 8080, ALICE)), { refused: 'overflow' });
  t.same(calls, ['overflow demo/api adaptive_concurrency']);
  t.same(gate.limits(), [{ labels: { workload: 'demo/api', port: '8080' }, value: 3 }]);
  const first = held[0];
  if (first !== undefined && 'pass' in first) first.pass.release(undefined);
  t.match(sync(gate.enter(index, api.uid, 8080, ALICE)), { pass: {} });
});

t.test('a rate-limited request takes no adaptive place', async (t) => {
  const gate = new InboundGate({ now: () => 0 });
  const index = indexOf([service('api', [api], 80, 8080, trafficPolicy('p', { rateLimit: { rules: [rule(1, 60_000)] }, adaptiveConcurrency: ADAPTIVE }))], [api]);
  t.match(sync(gate.enter(index, api.uid, 8080, ALICE)), { pass: {} });
  for (let i = 0; i < 10; i++) t.match(sync(gate.enter(index, api.uid, 8080, ALICE)), { refused: 'rate_limited' });
  t.match(sync(gate.enter(indexOf([service('api', [api], 80, 8080, trafficPolicy('p', { adaptiveConcurrency: ADAPTIVE }))], [api]), api.uid, 8080, ALICE)), { pass: {} }, 'only one place held');
});

t.test('a new snapshot: an unchanged adaptive policy keeps its controller, a removed one goes, dropped rules lose their buckets', async (t) => {
  const limiter = new LocalRateLimiter();
  const gate = new InboundGate({ now: () => 0, limiter });
  const both = trafficPolicy('p', { rateLimit: { rules: [rule(1, 60_000)] }, adaptiveConcurrency: ADAPTIVE });
  const v1 = indexOf([service('api', [api], 80, 8080, both)], [api]);
  sync(gate.enter(v1, api.uid, 8080, ALICE));
  t.same(limiter.store.size, { shared: 1, perSource: 0 });
  const v2 = indexOf([service('api', [api], 80, 8080, both)], [api]);
  t.match(sync(gate.enter(v2, api.uid, 8080, ALICE)), { refused: 'rate_limited' }, 'the same rule keeps its (empty) bucket');
  t.equal(gate.limits().length, 1);
  const v3 = indexOf([service('api', [api], 80, 8080, trafficPolicy('p', {}))], [api]);
  sync(gate.enter(v3, api.uid, 8080, ALICE));
  t.same(gate.limits(), [], 'the controller of a port without adaptive concurrency went');
  t.same(limiter.store.size, { shared: 0, perSource: 0 }, 'the bucket of a rule no longer in force went');
});
