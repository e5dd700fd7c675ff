/**
 * planRequest (src/agent/policy/request-plan.ts): the source agent's per-request decision, branch
 * by branch, with a seeded random: no routes (the Service itself), no match (404), redirect,
 * rewrite and header filters, backends that do not resolve (500), timeouts carried, and a 90/10
 * canary split over 10,000 requests within its weights.
 */
import t from 'tap';
import { planRequest, type PlannedHead, type ServicePortLookup } from '../../../../src/agent/policy/request-plan.js';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import type { ServicePortEntry } from '../../../../src/agent/state/workload-index.js';
import { pathPrefix, type HttpRouteInfo } from '../../../../src/mesh/routes.js';
import type { ServiceInfo } from '../../../../src/mesh/types.js';

function entry(name: string, port = 80): ServicePortEntry {
  const service: ServiceInfo = { key: `demo/${name}`, name, namespace: 'demo', vips: ['10.0.0.1'], ports: [{ port, targetPort: 8080 }], endpoints: [] };
  return { key: `demo/${name}|${port}`, service, port: service.ports[0] as ServiceInfo['ports'][number], endpoints: [] };
}
const web = entry('web');
const stable = entry('stable');
const canary = entry('canary');
const entries = new Map([web, stable, canary].map((e) => [e.key, e]));
const lookup: ServicePortLookup = (key, port) => entries.get(`${key}|${port}`);
const head = (path: string, headers: Record<string, string> = {}): PlannedHead => ({ method: 'GET', path, authority: 'web.demo', headers });

const route = (rules: HttpRouteInfo['rules']): HttpRouteInfo => ({ kind: 'HTTPRoute', namespace: 'demo', name: 'r', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }], rules });
const match = (prefix: string): HttpRouteInfo['rules'][number]['matches'] => [{ path: pathPrefix(prefix), headers: [], queryParams: [] }];

t.test('no route attached: every request to the Service itself, unchanged', async (t) => {
  const plan = planRequest(web, [], head('/a?b=c', { 'x-a': '1' }), lookup, Math.random);
  t.same(plan, { kind: 'forward', entry: web, head: head('/a?b=c', { 'x-a': '1' }), responseHeaders: [], timeouts: {}, mirrors: [] });
});

t.test('routes attached and none matches: 404 (no_route)', async (t) => {
  const plan = planRequest(web, [route([{ matches: match('/api'), filters: [], backendRefs: [{ name: 'stable', namespace: 'demo', weight: 1 }], timeouts: {} }])], head('/other'), lookup, Math.random);
  t.equal(plan.kind, 'fail');
  t.equal(plan.kind === 'fail' ? plan.failure : '', 'no_route');
});

t.test('a 90/10 canary split over 10,000 requests lands within 2% of its weights', async (t) => {
  const r = route([{ matches: match('/'), filters: [], backendRefs: [{ name: 'stable', namespace: 'demo', weight: 90 }, { name: 'canary', namespace: 'demo', weight: 10 }], timeouts: {} }]);
  const random = seededRandom(42);
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const plan = planRequest(web, [r], head(`/x/${i}`), lookup, random);
    if (plan.kind !== 'forward') throw new Error(`unexpected ${plan.kind}`);
    counts.set(plan.entry.key, (counts.get(plan.entry.key) ?? 0) + 1);
  }
  const canaryShare = (counts.get(canary.key) ?? 0) / 10_000;
  t.ok(Math.abs(canaryShare - 0.1) <= 0.02, `canary share ${canaryShare}`);
  t.equal((counts.get(stable.key) ?? 0) + (counts.get(canary.key) ?? 0), 10_000, 'nothing else picked');
});

t.test('filters: redirect answers here; rewrite and header modifiers shape the forwarded head', async (t) => {
  const r = route([
    { matches: match('/old'), filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 302, scheme: 'https', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }], backendRefs: [], timeouts: {} },
    {
      matches: match('/v1'),
      filters: [
        { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' }, hostname: 'other.demo' } },
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 's' }], add: [{ name: 'x-add', value: 'b' }], remove: ['x-gone'] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [], remove: ['server'] } },
      ],
      backendRefs: [{ name: 'stable', namespace: 'demo', weight: 1 }],
      timeouts: { requestMs: 1500, backendRequestMs: 500 },
    },
  ]);
  const redirect = planRequest(web, [r], head('/old/x?q=1'), lookup, Math.random);
  t.same(redirect, { kind: 'redirect', status: 302, location: 'https://web.demo/new/x?q=1', route: r });
  const forward = planRequest(web, [r], head('/v1/items?z=9', { 'x-gone': '1', 'x-add': 'a', 'x-keep': 'k' }), lookup, Math.random);
  t.same(forward, {
    kind: 'forward', entry: stable, route: r,
    head: { method: 'GET', path: '/v2/items?z=9', authority: 'other.demo', headers: { 'x-add': 'a,b', 'x-keep': 'k', 'x-set': 's' } },
    responseHeaders: [{ set: [], add: [], remove: ['server'] }],
    timeouts: { requestMs: 1500, backendRequestMs: 500 },
    mirrors: [],
  });
});

t.test('backends that do not resolve: 500 (backend_not_found), never another Service', async (t) => {
  const cases: Array<[string, HttpRouteInfo['rules'][number]['backendRefs']]> = [
    ['a Service that does not exist', [{ name: 'missing', namespace: 'demo', weight: 1 }]],
    ['a port the Service lacks', [{ name: 'stable', namespace: 'demo', port: 9999, weight: 1 }]],
    ['marked invalid by validation', [{ name: 'stable', namespace: 'demo', weight: 1, invalid: 'BackendNotFound' }]],
    ['every weight zero', [{ name: 'stable', namespace: 'demo', weight: 0 }]],
    ['no backend at all', []],
  ];
  for (const [what, backendRefs] of cases) {
    const plan = planRequest(web, [route([{ matches: match('/'), filters: [], backendRefs, timeouts: {} }])], head('/'), lookup, Math.random);
    t.same(plan.kind === 'fail' ? plan.failure : plan.kind, 'backend_not_found', what);
  }
});
