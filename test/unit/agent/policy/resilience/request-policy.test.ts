/**
 * Which resilience a request gets: route rule fields over a route's TrafficPolicy over the
 * Service's; nothing configured costs nothing (the shared constant).
 */
import t from 'tap';
import { DEFAULT_RETRY_BUDGET, type RetryPolicy } from '../../../../../src/mesh/resilience.js';
import type { TrafficPolicyInfo } from '../../../../../src/mesh/types.js';
import { CONNECT_ONLY_RETRY, NO_RESILIENCE, requestResilience, requestResilienceOf } from '../../../../../src/agent/policy/resilience/request-policy.js';

const retry: RetryPolicy = { retries: 3, triggers: ['5xx'], statusCodes: [], perTryTimeoutMs: 80, backoffBaseMs: 10, backoffMaxMs: 100, nonIdempotent: false, bufferBytes: 4096 };
const svc = (over: Partial<TrafficPolicyInfo>): TrafficPolicyInfo => ({ policy: 'demo/p', balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false, ...over });

t.test('nothing configured: the shared constant, connect-only retries', async (t) => {
  t.equal(requestResilience(undefined, undefined, undefined), NO_RESILIENCE);
  t.equal(requestResilience(undefined, undefined, { timeouts: {} }), NO_RESILIENCE);
  t.equal(requestResilience(svc({}), undefined, { timeouts: {} }), NO_RESILIENCE, 'a policy with only a balancer');
  t.equal(NO_RESILIENCE.retry, CONNECT_ONLY_RETRY);
  t.equal(NO_RESILIENCE.replay, false);
});

t.test('the Service policy', async (t) => {
  const r = requestResilience(svc({ retry, retryBudget: DEFAULT_RETRY_BUDGET, timeout: { requestMs: 500 } }), undefined, { timeouts: {} });
  t.equal(r.retry, retry);
  t.equal(r.perTryMs, 80);
  t.equal(r.requestMs, 500);
  t.equal(r.replay, true, 'retries past the first byte keep the body');
});

t.test('route rule fields win, then a route policy, then the Service', async (t) => {
  const service = svc({ retry, timeout: { requestMs: 500 }, fault: { headers: [], abort: { httpStatus: 500, percent: 1 } } });
  const route = { policy: 'demo/rp', timeout: { requestMs: 400 }, fault: { headers: [], delay: { ms: 5, percent: 100 } } };
  const a = requestResilience(service, route, { timeouts: { requestMs: 300, backendRequestMs: 50 }, retry: { codes: [409], attempts: 1, backoffMs: 7 } });
  t.equal(a.requestMs, 300, 'the rule timeout');
  t.equal(a.perTryMs, 50, 'backendRequest is per try');
  t.equal(a.retry.retries, 1);
  t.same(a.retry.statusCodes, [409]);
  t.ok(a.retry.triggers.includes('retriable-status-codes'), 'codes imply the status-code trigger');
  t.ok(a.retry.triggers.includes('5xx'), 'the policy\'s triggers kept');
  t.equal(a.retry.backoffBaseMs, 7);
  t.equal(a.retry.perTryTimeoutMs, 80, 'the rest from the Service policy');
  t.equal(a.fault, route.fault, 'the route policy\'s fault');
  const b = requestResilience(service, route, { timeouts: {} });
  t.equal(b.requestMs, 400, 'the route policy timeout');
  const c = requestResilience(service, undefined, { retry: { codes: [] } });
  t.equal(c.retry.retries, 3, 'a route retry without attempts keeps the policy\'s count');
});

t.test('a route retry with no policy: meshlet\'s defaults', async (t) => {
  const r = requestResilience(undefined, undefined, { retry: { codes: [503] } });
  t.equal(r.retry.retries, 2);
  t.same(r.retry.triggers, ['connect-failure', 'reset', 'retriable-status-codes']);
  t.equal(r.retry.bufferBytes, 64 * 1024);
  t.equal(r.budget, DEFAULT_RETRY_BUDGET);
});

t.test('requestResilienceOf: the same answer as requestResilience, computed once per set of snapshot objects', async (t) => {
  t.equal(requestResilienceOf(undefined, undefined, undefined, undefined), NO_RESILIENCE);
  t.equal(requestResilienceOf(undefined, undefined, {}, undefined), NO_RESILIENCE);
  const service = svc({ retry, timeout: { requestMs: 500 } });
  const route = { policy: 'demo/rp', timeout: { requestMs: 400 } };
  const timeouts = { backendRequestMs: 50 };
  const rr = { codes: [409], attempts: 1, backoffMs: 7 };
  const first = requestResilienceOf(service, route, timeouts, rr);
  t.same(first, requestResilience(service, route, { timeouts, retry: rr }), 'what requestResilience says');
  t.equal(requestResilienceOf(service, route, timeouts, rr), first, 'the same object for the same inputs');
  t.same(requestResilienceOf(service, undefined, timeouts, rr), requestResilience(service, undefined, { timeouts, retry: rr }), 'no route policy: its own answer');
  t.not(requestResilienceOf(service, undefined, timeouts, rr), first);
  const next = svc({ retry, timeout: { requestMs: 900 } });
  t.equal(requestResilienceOf(next, route, timeouts, rr).requestMs, 400, 'a new snapshot object is a new key (the route policy still wins)');
  t.equal(requestResilienceOf(next, undefined, {}, undefined).requestMs, 900, 'no rule fields, no route policy: the Service timeout');
  t.same(requestResilienceOf(service, undefined, undefined, undefined), requestResilience(service, undefined, undefined), 'absent timeouts are no timeouts');
});
