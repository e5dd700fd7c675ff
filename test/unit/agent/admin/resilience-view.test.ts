/**
 * `/resilience`'s pure view: every section of a Service policy shown as compiled with its
 * policy's name, route policies and the routes' own retry/timeouts/mirrors, and the live blocks
 * of several processes merged per Service port and per workload port.
 */
import t from 'tap';
import { resilienceView, sectionsOf } from '../../../../src/agent/admin/resilience-view.js';
import type { ProcessResilience } from '../../../../src/agent/admin/resilience-rows.js';
import { FULL_POLICY, ROUTE_POLICY, resilienceSnapshot } from './resilience-fixture.js';

const budget = { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000, available: 12 };
const PROCESSES: ProcessResilience[] = [
  {
    worker: 202,
    servicePorts: [{ servicePort: 'demo/web|80', requests: 3, pending: 1, retries: 0, retryBudget: budget, latencyP50Ms: 4.5, latencyP99Ms: 40 }],
    adaptiveLimits: [{ workload: 'demo/web', port: 8080, limit: 17 }],
  },
  {
    worker: 101,
    servicePorts: [
      { servicePort: 'demo/web|80', requests: 1, pending: 0, retries: 1 },
      { servicePort: 'demo/api|90', requests: 2, pending: 0, retries: 0 },
    ],
    adaptiveLimits: [{ workload: 'demo/web', port: 8080, limit: 9 }],
  },
];

t.test('every section of the Service policy is shown, compiled, with the policy name; balancing fields are not', async (t) => {
  const view = resilienceView(resilienceSnapshot(), []);
  t.equal(view.services.length, 1, 'only the Service with a policy (no live state anywhere)');
  const web = view.services[0];
  t.equal(web?.service, 'demo/web');
  t.equal(web?.policy, 'demo/web-resilience');
  t.same(web?.ports, [80, 8080]);
  const sections = web?.sections ?? {};
  t.same(Object.keys(sections).sort(), ['adaptiveConcurrency', 'circuitBreaker', 'fault', 'hedge', 'passiveHealth', 'rateLimit', 'retry', 'retryBudget', 'tcpFault', 'timeout']);
  t.same(sections.retry, FULL_POLICY.retry);
  t.same(sections.circuitBreaker, FULL_POLICY.circuitBreaker);
  t.same(sections.rateLimit, FULL_POLICY.rateLimit);
  t.equal('balancer' in sections, false);
  t.equal('policy' in sections, false);
  t.equal(view.live, true);
});

t.test('routes: the route policy sections, the rules that retry, time out or mirror; a route with none is left out', async (t) => {
  const view = resilienceView(resilienceSnapshot(), []);
  t.equal(view.routes.length, 1);
  const route = view.routes[0];
  t.equal(route?.route, 'HTTPRoute/demo/web-route');
  t.equal(route?.policy, 'demo/route-faults');
  t.same(route?.sections, sectionsOf(ROUTE_POLICY));
  t.same(Object.keys(route?.sections ?? {}).sort(), ['fault', 'retry', 'retryBudget', 'timeout']);
  t.equal(route?.rules.length, 1, 'the second rule has nothing to show');
  const rule = route?.rules[0];
  t.equal(rule?.rule, 0);
  t.same(rule?.timeouts, { requestMs: 3000, backendRequestMs: 1000 });
  t.same(rule?.retry, { codes: [503, 504], attempts: 2, backoffMs: 50 });
  t.same(rule?.mirrors, [
    { backend: 'demo/shadow:80', percent: 10 },
    { backend: 'demo/gone', percent: 100, invalid: 'Service demo/gone not found' },
  ]);
});

t.test('live blocks: rows per Service port then pid, a Service with live state but no policy is listed', async (t) => {
  const view = resilienceView(resilienceSnapshot(), PROCESSES);
  t.same(view.servicePorts.map((r) => `${r.servicePort}@${r.worker}`), ['demo/api|90@101', 'demo/web|80@101', 'demo/web|80@202']);
  t.same(view.servicePorts[2]?.retryBudget, budget);
  t.equal(view.servicePorts[2]?.latencyP99Ms, 40);
  t.same(view.adaptiveLimits, [
    { workload: 'demo/web', port: 8080, limit: 9, worker: 101 },
    { workload: 'demo/web', port: 8080, limit: 17, worker: 202 },
  ]);
  t.same(view.services.map((s) => s.service), ['demo/api', 'demo/web']);
  t.same(view.processes, [101, 202], 'every process that answered, by pid');
  const api = view.services[0];
  t.equal(api?.policy, null);
  t.same(api?.sections, {});
});

t.test('no live state: the configuration alone, marked', async (t) => {
  const view = resilienceView(resilienceSnapshot(), undefined);
  t.equal(view.live, false);
  t.same(view.processes, []);
  t.same(view.servicePorts, []);
  t.same(view.adaptiveLimits, []);
  t.equal(view.services.length, 1);
});

t.test('an empty snapshot: empty lists', async (t) => {
  const view = resilienceView({ version: '', node: 'n', nodeAddress: '127.0.0.1', trustDomain: 'td', localWorkloads: [], workloads: [], services: [] }, []);
  t.same(view, { services: [], routes: [], servicePorts: [], adaptiveLimits: [], live: true, processes: [] });
});
