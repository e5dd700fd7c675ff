/**
 * HTTPRoute `retry` (GEP-1731) and the RequestMirror filter (HTTPRoute and GRPCRoute): parsed
 * into `RouteRetry` and `RequestMirror`, refused naming the field when bad (bounds attacked), and
 * read back equal from the Gateway API object the snapshot wire carries (`route-spec.ts`),
 * mirrors marked unresolved included.
 */
import t from 'tap';
import fc from 'fast-check';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { objectsFromValue, parseObjects } from '../../../src/mesh/objects/parse.js';
import { formatGatewayDuration, routeToObject } from '../../../src/mesh/objects/route-spec.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../../../src/mesh/snapshot-wire/encode.js';
import type { GRPCRouteObject, HTTPRouteObject } from '../../../src/mesh/types.js';
import type { RouteData } from '../../../src/mesh/routes.js';
import { thrown } from './fixture.js';
import { L7_YAML } from './l7-fixture.js';

const ROUTE = (kind: string, rules: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: {name: r, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
${rules}`;

function routeOf<T extends HTTPRouteObject | GRPCRouteObject>(text: string): T {
  return parseObjects(text, 'r.yaml')[0] as T;
}

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, 'r.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

/** The route read back from its wire object. */
function readBack(route: RouteData): RouteData {
  const { objects, problems: found } = objectsFromValue(JSON.parse(JSON.stringify(routeToObject(route))), { file: 'wire', doc: 0 });
  if (found.length > 0) throw new Error(found.map((p) => p.text).join('\n'));
  return (objects[0] as HTTPRouteObject | GRPCRouteObject).route;
}

t.test('retry and mirrors compile', async (t) => {
  const http = routeOf<HTTPRouteObject>(ROUTE('HTTPRoute', `    - backendRefs: [{name: web, port: 80}]
      retry: {codes: [500, 502], attempts: 2, backoff: 100ms}
      filters:
        - {type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 8080}}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: audit, namespace: other, port: 80}, percent: 12.5}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: third, port: 80}, fraction: {numerator: 1, denominator: 3}}}
        - {type: RequestMirror, requestMirror: {backendRef: {group: example.com, kind: Bucket, name: b}, fraction: {numerator: 5}}}
    - backendRefs: [{name: web, port: 80}]
      retry: {}
`));
  const [rule, plain] = http.route.rules;
  t.same(rule?.retry, { codes: [500, 502], attempts: 2, backoffMs: 100 });
  t.same(plain?.retry, { codes: [] }, 'an empty retry: no codes, the policy\'s attempts and backoff');
  t.same(rule?.filters, [
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'demo', port: 8080 }, percent: 100 } },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'audit', namespace: 'other', port: 80 }, percent: 12.5 } },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'third', namespace: 'demo', port: 80 }, percent: (1 / 3) * 100 } },
    { type: 'RequestMirror', requestMirror: { backendRef: { name: 'b', namespace: 'demo', group: 'example.com', kind: 'Bucket' }, percent: 5 } },
  ]);
  t.same(readBack(http.route), http.route, 'read back from the wire object');
  const grpc = routeOf<GRPCRouteObject>(ROUTE('GRPCRoute', `    - backendRefs: [{name: web, port: 80}]
      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}, percent: 0}}]
`));
  t.same(grpc.route.rules[0]?.filters, [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'demo', port: 80 }, percent: 0 } }]);
  t.same(readBack(grpc.route), grpc.route, 'GRPCRoute read back');
});

t.test('bad retry and mirror fields are refused naming the field', async (t) => {
  const rule = (body: string): string => ROUTE('HTTPRoute', `    - backendRefs: [{name: web, port: 80}]\n${body}`);
  const cases: [string, string, RegExp][] = [
    ['attempts past the bound', rule('      retry: {attempts: 11}\n'), /spec\.rules\[0\]\.retry\.attempts: must be an integer 0\.\.10, got 11$/],
    ['huge attempts', rule('      retry: {attempts: 1e30}\n'), /spec\.rules\[0\]\.retry\.attempts: must be an integer 0\.\.10/],
    ['negative attempts', rule('      retry: {attempts: -1}\n'), /retry\.attempts: must be an integer 0\.\.10, got -1$/],
    ['a 3xx code', rule('      retry: {codes: [302]}\n'), /spec\.rules\[0\]\.retry\.codes\[0\]: must be an HTTP status 400\.\.599, got 302$/],
    ['a code as a string', rule('      retry: {codes: ["503"]}\n'), /retry\.codes\[0\]: must be an HTTP status 400\.\.599, got "503"$/],
    ['duplicate codes', rule('      retry: {codes: [503, 503]}\n'), /retry\.codes\[1\]: duplicate status 503$/],
    ['10,000 codes', rule(`      retry: {codes: [${Array.from({ length: 10_000 }, () => 500).join(',')}]}\n`), /retry\.codes: at most 200 entries, got 10000$/],
    ['backoff not a duration', rule('      retry: {backoff: soon}\n'), /retry\.backoff: must be a duration/],
    ['backoff of a day', rule('      retry: {backoff: 24h}\n'), /retry\.backoff: must be from 1ms to 1h, got "24h"$/],
    ['unknown retry field', rule('      retry: {perTryTimeout: 1s}\n'), /spec\.rules\[0\]\.retry\.perTryTimeout: unknown field$/],
    ['mirror without backendRef', rule('      filters: [{type: RequestMirror, requestMirror: {percent: 5}}]\n'), /filters\[0\]\.requestMirror\.backendRef: required$/],
    ['mirror percent over 100', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, percent: 101}}]\n'), /filters\[0\]\.requestMirror\.percent: must be a number from 0 to 100, got 101$/],
    ['mirror percent NaN', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, percent: .nan}}]\n'), /requestMirror\.percent: must be a number from 0 to 100, got NaN$/],
    ['percent and fraction', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, percent: 5, fraction: {numerator: 1}}}]\n'), /requestMirror\.fraction: must not be set with percent/],
    ['numerator over denominator', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, fraction: {numerator: 11, denominator: 10}}}]\n'), /requestMirror\.fraction\.numerator: must not be above the denominator \(10\), got 11$/],
    ['zero denominator', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, fraction: {numerator: 0, denominator: 0}}}]\n'), /requestMirror\.fraction\.denominator: must be an integer 1\.\.2147483647, got 0$/],
    ['fraction without numerator', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}, fraction: {}}}]\n'), /requestMirror\.fraction\.numerator: required$/],
    ['mirror to a bad name', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: "S!", port: 80}}}]\n'), /requestMirror\.backendRef\.name: must be a DNS-1123 subdomain/],
    ['mirror with a weight', rule('      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80, weight: 1}}}]\n'), /requestMirror\.backendRef\.weight: unknown field/],
    ['17 mirrors', rule(`      filters: [${Array.from({ length: 17 }, () => '{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 80}}}').join(',')}]\n`), /spec\.rules\[0\]\.filters: at most 16 entries/],
  ];
  for (const [name, text, want] of cases) {
    const lines = problems(text);
    t.match(lines[0], /^r\.yaml:\d+ \(document 1\): HTTPRoute demo\/r: spec\.rules\[0\]/, `${name}: names file, line, object and rule`);
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), name);
  }
});

t.test('property: retry and mirror read back equal from the wire object', async (t) => {
  const mirror = fc.record({
    name: fc.constantFrom('a', 'shadow', 'b-2'),
    port: fc.integer({ min: 1, max: 65535 }),
    share: fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }).map((percent) => ({ percent })), fc.integer({ min: 1, max: 1000 }).chain((d) => fc.integer({ min: 0, max: d }).map((n) => ({ fraction: { numerator: n, denominator: d } })))),
  }).map(({ name, port, share }) => ({ type: 'RequestMirror', requestMirror: { backendRef: { name, port }, ...share } }));
  const retry = fc.record({ codes: fc.uniqueArray(fc.integer({ min: 400, max: 599 }), { maxLength: 5 }), attempts: fc.integer({ min: 0, max: 10 }), backoff: fc.integer({ min: 1, max: 3_600_000 }).map(formatGatewayDuration) }, { requiredKeys: ['codes'] });
  let runs = 0;
  fc.assert(fc.property(fc.array(mirror, { maxLength: 3 }), fc.option(retry, { nil: undefined }), (filters, r) => {
    const object = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'demo' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web' }], rules: [{ filters, ...(r === undefined ? {} : { retry: r }), backendRefs: [{ name: 'web', port: 80 }] }] } };
    const { objects, problems: found } = objectsFromValue(object, { file: 'p', doc: 0 });
    if (found.length > 0) throw new Error(found.map((p) => p.text).join('\n'));
    const route = (objects[0] as HTTPRouteObject).route;
    t.same(readBack(route), route);
    runs += 1;
  }), { numRuns: 200 });
  t.equal(runs, 200);
});

t.test('a mirror marked unresolved keeps its mark on the snapshot wire; a forged mark is refused', async (t) => {
  const yaml = L7_YAML.replace('      timeouts: {request: 10s}\n', '      timeouts: {request: 10s}\n      filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}, percent: 50}}]\n      retry: {codes: [503], attempts: 1}\n');
  const state = buildClusterState(parseObjects(yaml, 'l7.yaml'));
  const http = state.routes.find((r) => r.kind === 'HTTPRoute');
  if (http === undefined || http.kind !== 'HTTPRoute') throw new Error('no HTTPRoute');
  t.same(http.rules[0]?.retry, { codes: [503], attempts: 1 });
  // The controller marks a mirror whose Service is missing (route-status.ts); marked here as it would.
  const marked: RouteData = { ...http, rules: http.rules.map((r, i) => (i !== 0 ? r : { ...r, filters: r.filters.map((f) => (f.type === 'RequestMirror' ? { ...f, requestMirror: { ...f.requestMirror, backendRef: { ...f.requestMirror.backendRef, invalid: 'BackendNotFound: gone' } } } : f)) })) };
  const routes = state.routes.map((r) => (r === http ? marked : r));
  const view = { ...state, routes };
  const snapshot = { ...computeSnapshot(state, 'node-a', 'v1'), routes };
  const wire = snapshotToWire(encodeClusterView(view, 'v1'), snapshot);
  const decoded = decodeSnapshot(wire, { node: 'node-a', trustDomain: 'cluster.local' });
  const filter = decoded.routes?.find((r) => r.kind === 'HTTPRoute')?.rules[0]?.filters[0];
  t.same(filter, { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web-v2', namespace: 'demo', port: 80, invalid: 'BackendNotFound: gone' }, percent: 50 } });
  const json = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as { routes: { invalidMirrors?: unknown[] }[] };
  const index = json.routes.findIndex((r) => r.invalidMirrors !== undefined);
  t.not(index, -1, 'the wire carries the mark');
  (json.routes[index] as { invalidMirrors: unknown[] }).invalidMirrors = [[0, 5, 'x'], [1, 0, '']];
  const err = thrown(() => decodeSnapshot({ ...wire, cluster: gzipSync(JSON.stringify(json)) }, { node: 'node-a', trustDomain: 'cluster.local' }));
  if (!isMeshletError(err, 'MESHLET_ERR_CONTROLLER')) throw new Error(`expected MESHLET_ERR_CONTROLLER, got ${String(err)}`);
  t.match(err.details.join('\n'), new RegExp(`cluster\\.routes\\[${index}\\]\\.invalidMirrors\\[0\\]: must be \\[rule, filter, reason\\] naming a RequestMirror filter`));
  t.match(err.details.join('\n'), new RegExp(`cluster\\.routes\\[${index}\\]\\.invalidMirrors\\[1\\]: must be`));
});
