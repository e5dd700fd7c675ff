/**
 * Which rate limits and adaptive concurrency govern a request at its destination
 * (src/agent/policy/resilience/inbound-policies.ts): the Services selecting the local workload
 * with that target port, from the snapshot alone; deduplicated; remote workloads and other ports
 * get nothing; the rule ids the primary checks a worker's ask against.
 */
import t from 'tap';
import { inboundPolicies, inboundRateRule, NO_INBOUND_POLICIES } from '../../../../../src/agent/policy/resilience/inbound-policies.js';
import { ADAPTIVE, indexOf, rule, service, trafficPolicy, workload } from './inbound-fixture.js';

const api = workload('api', '198.18.1.10');
const other = workload('other', '198.18.1.11');
const far = workload('far', '198.18.2.10', 'node2');
const limits = trafficPolicy('limits', { rateLimit: { rules: [rule(100, 1000), rule(5, 1000, { perSource: true })] } });
const adaptive = trafficPolicy('adaptive', { adaptiveConcurrency: ADAPTIVE });

t.test('a Service selecting the workload on that target port brings its rules', async (t) => {
  const index = indexOf([service('api', [api, other, far], 80, 8080, limits)], [api, other], [far]);
  const p = inboundPolicies(index, api.uid, 8080);
  t.same(p.rateRules.map((r) => r.id), ['demo/limits#0', 'demo/limits#1']);
  t.equal(p.adaptive, undefined);
  t.same(inboundPolicies(index, other.uid, 8080).rateRules.map((r) => r.id), ['demo/limits#0', 'demo/limits#1'], 'each selected local workload');
  t.equal(inboundPolicies(index, api.uid, 9090), NO_INBOUND_POLICIES, 'another target port: nothing');
  t.equal(inboundPolicies(index, far.uid, 8080), NO_INBOUND_POLICIES, 'a workload of another node: nothing here');
  t.equal(inboundPolicies(index, 'Pod/demo/nobody', 8080), NO_INBOUND_POLICIES);
});

t.test('two Services with the same policy count its rules once; two policies add up', async (t) => {
  const index = indexOf([
    service('api', [api], 80, 8080, limits),
    service('api-alias', [api], 81, 8080, limits),
    service('api-other', [api], 82, 8080, trafficPolicy('more', { rateLimit: { rules: [rule(1, 1000)] } })),
  ], [api]);
  t.same(inboundPolicies(index, api.uid, 8080).rateRules.map((r) => r.id), ['demo/limits#0', 'demo/limits#1', 'demo/more#0']);
});

t.test('adaptive concurrency: the first Service by key decides a workload port', async (t) => {
  const index = indexOf([
    service('zeta', [api], 80, 8080, trafficPolicy('z', { adaptiveConcurrency: { ...ADAPTIVE, maxConcurrency: 7 } })),
    service('alpha', [api], 80, 8080, adaptive),
  ], [api]);
  const a = inboundPolicies(index, api.uid, 8080).adaptive;
  t.equal(a?.service, 'demo/alpha');
  t.equal(a?.policy, ADAPTIVE);
  t.same(inboundPolicies(index, api.uid, 8080).rateRules, []);
});

t.test('a Service without a TrafficPolicy, or one without these sections, brings nothing', async (t) => {
  const index = indexOf([service('api', [api], 80, 8080), service('api2', [api], 81, 8080, trafficPolicy('plain', {}))], [api]);
  t.equal(inboundPolicies(index, api.uid, 8080), NO_INBOUND_POLICIES);
});

t.test('the same answer object for every request of a snapshot (computed once)', async (t) => {
  const index = indexOf([service('api', [api], 80, 8080, limits)], [api]);
  t.equal(inboundPolicies(index, api.uid, 8080), inboundPolicies(index, api.uid, 8080));
});

t.test('inboundRateRule finds a rule by id, and nothing for a made-up one', async (t) => {
  const index = indexOf([service('api', [api], 80, 8080, limits)], [api]);
  t.equal(inboundRateRule(index, 'demo/limits#1')?.rule.requests, 5);
  t.equal(inboundRateRule(index, 'demo/limits#2'), undefined);
  t.equal(inboundRateRule(index, 'demo/nope#0'), undefined);
  t.equal(inboundRateRule(index, '__proto__'), undefined);
});
