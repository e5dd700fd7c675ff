/**
 * Route rate-limit rules: their ids, the charges of a request, and the primary's lookup of a
 * rule by id in its own snapshot (forged or stale ids name nothing); the primary grants tokens
 * for a route rule only to asks whose bucket is that route's.
 */
import t from 'tap';
import { WorkloadIndex } from '../../../../../src/agent/state/workload-index.js';
import { routeCharges, routeKeyOf, routeRateRule, routeRateRules } from '../../../../../src/agent/policy/resilience/route-rate-limit.js';
import { TokenGrants } from '../../../../../src/agent/workers/token-grants.js';
import type { NodeSnapshot, RoutePolicyInfo } from '../../../../../src/mesh/types.js';

const policy: RoutePolicyInfo = {
  policy: 'demo/rl',
  rateLimit: { rules: [{ requests: 3, periodMs: 1000, perSource: false, sources: [], headers: [] }, { requests: 1, periodMs: 1000, perSource: true, sources: [], headers: [{ name: 'x-tier', value: 'free' }] }] },
};
const snapshot: NodeSnapshot = {
  version: 'v1', node: 'n1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services: [],
  routePolicies: [{ route: 'HTTPRoute/demo/r', policy }],
};
const index = new WorkloadIndex(snapshot);

t.test('ids and charges', async (t) => {
  const key = routeKeyOf({ kind: 'HTTPRoute', namespace: 'demo', name: 'r' });
  t.equal(key, 'HTTPRoute/demo/r');
  const rules = routeRateRules(key, policy);
  t.same(rules.map((r) => r.id), ['route:HTTPRoute/demo/r#demo/rl#0', 'route:HTTPRoute/demo/r#demo/rl#1']);
  t.equal(routeRateRules(key, policy), rules, 'the same array for the same policy');
  t.equal(routeCharges(key, policy, { identity: 'spiffe://a', headers: {} }).length, 1, 'the header-scoped rule does not apply');
  const both = routeCharges(key, policy, { identity: 'spiffe://a', headers: { 'x-tier': 'free' } });
  t.equal(both.length, 2);
  t.equal(both[1]?.key, 'route:HTTPRoute/demo/r#demo/rl#1|HTTPRoute/demo/r|s:spiffe://a', 'per source');
  t.same(routeRateRules(key, { policy: 'demo/none' }), []);
});

t.test('the primary finds a rule by id in its snapshot; forged and stale ids name nothing', async (t) => {
  t.equal(routeRateRule(index, 'route:HTTPRoute/demo/r#demo/rl#0')?.rule.requests, 3);
  for (const id of [
    'route:HTTPRoute/demo/r#demo/other#0', 'route:HTTPRoute/demo/x#demo/rl#0', 'route:HTTPRoute/demo/r#demo/rl#2', 'route:HTTPRoute/demo/r#demo/rl#-1',
    'route:Service/demo/r#demo/rl#0', 'route:HTTPRoute/demo/r/extra#demo/rl#0', 'route:HTTPRoute/demo/r#demo/rl', 'demo/rl#0', 'route:HTTPRoute/demo/r#demo/rl#00000000001',
  ]) t.equal(routeRateRule(index, id), undefined, id);
});

t.test('TokenGrants: route rules lease from the route\'s bucket, never past it', async (t) => {
  const grants = new TokenGrants(() => 0);
  grants.setIndex(index);
  const ok = grants.grant({ id: 1, rule: 'route:HTTPRoute/demo/r#demo/rl#0', workload: 'HTTPRoute/demo/r', want: 10 });
  t.equal(ok.granted, 3, 'the bucket\'s 3 tokens, not the 10 asked');
  t.equal(grants.grant({ id: 2, rule: 'route:HTTPRoute/demo/r#demo/rl#0', workload: 'HTTPRoute/demo/r', want: 10 }).granted, 0, 'spent');
  t.equal(grants.grant({ id: 3, rule: 'route:HTTPRoute/demo/r#demo/rl#0', workload: 'HTTPRoute/demo/other', want: 10 }).unknown, true, 'another bucket name for the rule: refused');
  t.equal(grants.grant({ id: 4, rule: 'route:HTTPRoute/demo/x#demo/rl#0', workload: 'HTTPRoute/demo/x', want: 10 }).unknown, true, 'no such route');
});
