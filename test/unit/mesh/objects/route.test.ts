/**
 * HTTPRoute and GRPCRoute validation: the good document's data (defaults, lower-cased header
 * names, durations), and a table of bad documents, each naming file, object and field.
 */
import t from 'tap';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import { DEFAULT_HTTP_MATCH, compileRoute } from '../../../../src/mesh/routes.js';
import type { GRPCRouteObject, HTTPRouteObject } from '../../../../src/mesh/types.js';
import { matchRoute } from '../../../../src/agent/policy/route-match.js';
import { thrown } from '../fixture.js';

const FILE = 'mesh/routes.yaml';

/** An HTTPRoute `demo/web` with the given `rules` YAML (indented under `spec:`). */
export const HTTP_ROUTE = (rules: string, extra = ''): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: demo
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: web
      port: 80
${extra}  rules:
${rules}`;

function parseOne<T>(text: string): T {
  const objects = parseObjects(text, FILE);
  if (objects.length !== 1) throw new Error(`expected one object, got ${objects.length}`);
  return objects[0] as T;
}

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, FILE));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

t.test('a full HTTPRoute becomes route data with the spec defaults', async (t) => {
  const obj = parseOne<HTTPRouteObject>(HTTP_ROUTE(`    - matches:
        - path: {type: Exact, value: /login}
          method: POST
          headers:
            - {name: X-Canary, value: "yes"}
            - {type: RegularExpression, name: User-Agent, value: ".*Firefox.*"}
          queryParams:
            - {name: debug, value: "1"}
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{name: X-Route, value: login}]
            add: [{name: X-Trace, value: a}]
            remove: [X-Secret]
      backendRefs:
        - {name: web-v1, port: 80, weight: 90}
        - {name: web-v2, port: 80}
      timeouts: {request: 1h2m, backendRequest: 500ms}
    - backendRefs:
        - {name: web-v1, port: 80}
    - matches:
        - path: {type: PathPrefix, value: /old/}
      filters:
        - type: RequestRedirect
          requestRedirect:
            path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}
`, '    - kind: Gateway\n      name: public\n'));
  t.equal(obj.kind, 'HTTPRoute');
  t.same(obj.parentRefs, [
    { group: '', kind: 'Service', namespace: 'demo', name: 'web', port: 80 },
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'demo', name: 'public' },
  ]);
  t.same(obj.route.parents, [{ namespace: 'demo', name: 'web', port: 80 }], 'only Service parents attach');
  const [first, second, third] = obj.route.rules;
  t.same(first?.matches, [{
    path: { type: 'Exact', value: '/login' },
    method: 'POST',
    headers: [
      { name: 'x-canary', match: { type: 'Exact', value: 'yes' } },
      { name: 'user-agent', match: { type: 'RegularExpression', value: '.*Firefox.*' } },
    ],
    queryParams: [{ name: 'debug', match: { type: 'Exact', value: '1' } }],
  }]);
  t.same(first?.filters, [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'login' }], add: [{ name: 'x-trace', value: 'a' }], remove: ['x-secret'] } }]);
  t.same(first?.backendRefs, [
    { name: 'web-v1', namespace: 'demo', weight: 90, port: 80 },
    { name: 'web-v2', namespace: 'demo', weight: 1, port: 80 },
  ], 'weight defaults to 1, namespace to the route\'s');
  t.same(first?.timeouts, { requestMs: 3_720_000, backendRequestMs: 500 });
  t.same(second?.matches, [DEFAULT_HTTP_MATCH], 'a rule without matches matches every path');
  t.same(second?.timeouts, {});
  t.same(third?.filters, [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 302 } }], 'redirect status defaults to 302');
  t.same(third?.backendRefs, []);
  t.equal(JSON.stringify(obj.route).includes('regex'), false, 'plain data: no compiled patterns');
});

t.test('compiled route data matches requests, regular expressions included', async (t) => {
  const obj = parseOne<HTTPRouteObject>(HTTP_ROUTE(`    - matches:
        - path: {type: RegularExpression, value: "/api/v[0-9]+/.*"}
      backendRefs: [{name: api, port: 80}]
    - matches: [{path: {type: Exact, value: /api/vx/users}}]
      backendRefs: [{name: web, port: 80}]
`));
  const routes = [compileRoute(obj.route)];
  const hit = matchRoute(routes, { method: 'GET', path: '/api/v2/users', query: '', headers: {} });
  t.equal(hit?.ruleIndex, 0);
  t.equal(matchRoute(routes, { method: 'GET', path: '/api/vx/users', query: '', headers: {} })?.ruleIndex, 1);
  t.equal(matchRoute(routes, { method: 'GET', path: '/api/v2', query: '', headers: {} }), undefined, 'a full match, not a search');
});

t.test('regular expressions are RE2: patterns JavaScript backtracks on are accepted and finish; RE2-only syntax works', async (t) => {
  const obj = parseOne<HTTPRouteObject>(HTTP_ROUTE(`    - matches:
        - path: {type: RegularExpression, value: "/(a+)+"}
          headers: [{type: RegularExpression, name: User-Agent, value: "(?i).*\\\\bfirefox\\\\b.*"}]
          queryParams: [{type: RegularExpression, name: q, value: ".*.*.*.*.*.*x"}]
      backendRefs: [{name: api, port: 80}]
`));
  const routes = [compileRoute(obj.route)];
  const long = 'a'.repeat(16 * 1024);
  const req = (path: string, ua: string, q: string) => ({ method: 'GET', path, query: `q=${q}`, headers: { 'user-agent': ua } });
  t.equal(matchRoute(routes, req('/aaa', 'Mozilla/5.0 FireFox/120', 'ax'))?.ruleIndex, 0, '(?i) and \\b');
  t.equal(matchRoute(routes, req(`/${long}!`, 'Firefox', 'x')), undefined, '16 KiB path against (a+)+');
  t.equal(matchRoute(routes, req('/a', 'Firefox', `${long}!`)), undefined, '16 KiB query value against .*.*.*.*.*.*x');
  t.equal(matchRoute(routes, req('/a', 'Firefox', `${long}x`))?.ruleIndex, 0, 'and a match when it ends in x');
});

t.test('GRPCRoute: method matches, defaults, header-only filters', async (t) => {
  const obj = parseOne<GRPCRouteObject>(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter, namespace: demo, creationTimestamp: "2024-05-01T12:00:00Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: greeter}]
  rules:
    - matches:
        - method: {service: helloworld.Greeter, method: SayHello}
        - method: {type: RegularExpression, service: "helloworld\\\\..*"}
          headers: [{name: X-User, value: bob}]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: {set: [{name: X-Served-By, value: greeter}]}
      backendRefs: [{name: greeter-v2, port: 50051, weight: 0}]
    - backendRefs: [{name: greeter, port: 50051}]
`);
  t.equal(obj.creationTimestamp, Date.parse('2024-05-01T12:00:00Z'));
  t.equal(obj.route.creationTimestamp, obj.creationTimestamp);
  t.same(obj.route.rules[0]?.matches, [
    { method: { type: 'Exact', service: 'helloworld.Greeter', method: 'SayHello' }, headers: [] },
    { method: { type: 'RegularExpression', service: 'helloworld\\..*' }, headers: [{ name: 'x-user', match: { type: 'Exact', value: 'bob' } }] },
  ]);
  t.same(obj.route.rules[0]?.backendRefs, [{ name: 'greeter-v2', namespace: 'demo', weight: 0, port: 50051 }]);
  t.same(obj.route.rules[1]?.matches, [{ headers: [] }]);
  const compiled = compileRoute(obj.route);
  const grpc = { 'content-type': 'application/grpc' };
  t.equal(matchRoute([compiled], { method: 'POST', path: '/helloworld.GreeterX/Other', query: '', headers: { ...grpc, 'x-user': 'bob' } })?.ruleIndex, 0, 'a service regex after compile');
  t.equal(matchRoute([compiled], { method: 'POST', path: '/other.Svc/Call', query: '', headers: grpc })?.ruleIndex, 1);
});

t.test('v1beta1 HTTPRoute is read like v1; other versions are refused', async (t) => {
  const obj = parseOne<HTTPRouteObject>(HTTP_ROUTE('    - backendRefs: [{name: web, port: 80}]\n').replace('/v1\n', '/v1beta1\n'));
  t.equal(obj.route.rules.length, 1);
  const bad = problems(HTTP_ROUTE('    - backendRefs: [{name: web, port: 80}]\n').replace('/v1\n', '/v1alpha2\n'));
  t.match(bad[0], /apiVersion: HTTPRoute must have apiVersion gateway\.networking\.k8s\.io\/v1, got "gateway\.networking\.k8s\.io\/v1alpha2"$/);
});

const RULE = (body: string): string => HTTP_ROUTE(body);
const MANY = (n: number, item: string): string => `[${Array.from({ length: n }, (_, i) => item.replace(/#/g, String(i))).join(', ')}]`;

t.test('every bad field is named with file, object and field', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['unknown rule field', RULE('    - backendRef: []\n'), /spec\.rules\[0\]\.backendRef: unknown field \(did you mean backendRefs\?\)$/],
    ['retry attempts past the bound', RULE('    - retry: {attempts: 11}\n'), /spec\.rules\[0\]\.retry\.attempts: must be an integer 0\.\.10, got 11$/],
    ['sessionPersistence is not supported', RULE('    - sessionPersistence: {sessionName: a}\n'), /spec\.rules\[0\]\.sessionPersistence: is a Gateway API field meshlet does not support/],
    ['mirror without a port', RULE('    - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: a}}}]\n'), /spec\.rules\[0\]\.filters\[0\]\.requestMirror\.backendRef\.port: required for a Service backend/],
    ['CORS filter', RULE('    - filters: [{type: CORS, cors: {}}]\n'), /spec\.rules\[0\]\.filters\[0\]\.type: CORS is not supported by meshlet on a HTTPRoute; supported: /],
    ['unknown filter type', RULE('    - filters: [{type: Fancy}]\n'), /filters\[0\]\.type: unknown filter type "Fancy"/],
    ['filter settings missing', RULE('    - filters: [{type: URLRewrite}]\n'), /filters\[0\]\.urlRewrite: required when type is URLRewrite$/],
    ['filter twice', RULE('    - filters: [{type: URLRewrite, urlRewrite: {hostname: a}}, {type: URLRewrite, urlRewrite: {hostname: b}}]\n'), /filters\[1\]\.type: URLRewrite may appear only once in a rule$/],
    ['redirect with backends', RULE('    - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n      backendRefs: [{name: web, port: 80}]\n'), /spec\.rules\[0\]\.backendRefs: must be empty when the rule has a RequestRedirect filter/],
    ['redirect and rewrite', RULE('    - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}, {type: URLRewrite, urlRewrite: {hostname: b}}]\n'), /spec\.rules\[0\]\.filters: RequestRedirect and URLRewrite may not be used together$/],
    ['bad redirect code', RULE('    - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]\n'), /requestRedirect\.statusCode: must be one of 301, 302, 303, 307, 308, got 304$/],
    ['ReplacePrefixMatch without a PathPrefix match', RULE('    - matches: [{path: {type: Exact, value: /a}}]\n      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n'), /spec\.rules\[0\]\.matches: a ReplacePrefixMatch path modifier needs exactly one match, of type PathPrefix/],
    ['path modifier field mismatch', RULE('    - filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replacePrefixMatch: /b}}}]\n'), /urlRewrite\.path\.replacePrefixMatch: must not be set when type is ReplaceFullPath$/m],
    ['bad path', RULE('    - matches: [{path: {type: PathPrefix, value: "/a//b"}}]\n'), /spec\.rules\[0\]\.matches\[0\]\.path\.value: must be an absolute path/],
    ['relative path', RULE('    - matches: [{path: {type: Exact, value: "a"}}]\n'), /matches\[0\]\.path\.value: must be an absolute path .*got "a"$/],
    ['bad regex', RULE('    - matches: [{path: {type: RegularExpression, value: "/a("}}]\n'), /matches\[0\]\.path\.value: regular expression "\/a\(" refused: does not compile as RE2: error parsing regexp: missing closing \)/],
    ['lookahead', RULE('    - matches: [{path: {type: RegularExpression, value: "/(?!admin).*"}}]\n'), /matches\[0\]\.path\.value: regular expression "\/\(\?!admin\)\.\*" refused: does not compile as RE2: .*\(RE2 has no lookahead or lookbehind\)$/],
    ['backreference', RULE('    - matches: [{headers: [{type: RegularExpression, name: a, value: "(x)\\\\1"}]}]\n'), /headers\[0\]\.value: regular expression .* refused: does not compile as RE2: .*\(RE2 has no backreferences\)$/],
    ['regex program too large', RULE('    - matches: [{queryParams: [{type: RegularExpression, name: q, value: "[a-z]{1000}[0-9]{1000}"}]}]\n'), /queryParams\[0\]\.value: regular expression .* refused: compiles to an RE2 program of \d+ instructions, more than 2000/],
    ['long regex', RULE(`    - matches: [{path: {type: RegularExpression, value: "/${'a'.repeat(1100)}"}}]\n`), /matches\[0\]\.path\.value: at most 1024 characters, got 1101$/],
    ['bad method', RULE('    - matches: [{method: FETCH}]\n'), /matches\[0\]\.method: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "FETCH"$/],
    ['bad header name', RULE('    - matches: [{headers: [{name: "a b", value: x}]}]\n'), /matches\[0\]\.headers\[0\]\.name: must be an HTTP header name/],
    ['duplicate header match', RULE('    - matches: [{headers: [{name: A, value: x}, {name: a, value: y}]}]\n'), /matches\[0\]\.headers\[1\]\.name: duplicate name "a"$/],
    ['header value injection', RULE('    - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: "x\\r\\nevil: 1"}]}}]\n'), /set\[0\]\.value: must not contain CR, LF or NUL/],
    ['weight too large', RULE('    - backendRefs: [{name: web, port: 80, weight: 1000001}]\n'), /backendRefs\[0\]\.weight: must be an integer 0\.\.1000000, got 1000001$/],
    ['backend without port', RULE('    - backendRefs: [{name: web}]\n'), /backendRefs\[0\]\.port: required for a Service backend/],
    ['backend filters', RULE('    - backendRefs: [{name: web, port: 80, filters: [{type: RequestHeaderModifier}]}]\n'), /backendRefs\[0\]\.filters: is a Gateway API field meshlet does not support/],
    ['bad duration', RULE('    - timeouts: {request: 10 seconds}\n'), /spec\.rules\[0\]\.timeouts\.request: must be a Gateway API duration such as "10s", "500ms" or "1h2m", got "10 seconds"$/],
    ['backendRequest longer than request', RULE('    - timeouts: {request: 1s, backendRequest: 2s}\n'), /timeouts\.backendRequest: must not be longer than timeouts\.request \(1000 ms\), got 2000 ms$/],
    ['too many rules', RULE(Array.from({ length: 17 }, () => '    - backendRefs: [{name: web, port: 80}]\n').join('')), /spec\.rules: at most 16 entries \(the Gateway API's limit\), got 17$/],
    ['too many backendRefs', RULE(`    - backendRefs: ${MANY(17, '{name: b#, port: 80}')}\n`), /spec\.rules\[0\]\.backendRefs: at most 16 entries/],
    ['too many matches', RULE(`    - matches: ${MANY(65, '{path: {value: /p#}}')}\n`), /spec\.rules\[0\]\.matches: at most 64 entries/],
    ['too many header matches', RULE(`    - matches: [{headers: ${MANY(17, '{name: h#, value: v}')}}]\n`), /matches\[0\]\.headers: at most 16 entries/],
    ['too many matches in all', RULE(Array.from({ length: 2 }, () => `    - matches: ${MANY(64, '{path: {value: /p#}}')}\n`).join('')), /spec\.rules: at most 127 matches across all rules/],
    ['no parentRefs', RULE('    - backendRefs: [{name: web, port: 80}]\n').replace(/  parentRefs:\n(    .*\n)+/, '  parentRefs: []\n'), /spec\.parentRefs: required: at least one parent/],
    ['bad creationTimestamp', RULE('    - backendRefs: [{name: web, port: 80}]\n').replace('  namespace: demo\n', '  namespace: demo\n  creationTimestamp: yesterday\n'), /metadata\.creationTimestamp: must be an RFC 3339 time/],
  ];
  for (const [name, text, want] of cases) {
    const lines = problems(text);
    t.ok(lines.length >= 1, `${name}: at least one problem`);
    t.match(lines[0], /^mesh\/routes\.yaml:\d+ \(document 1\): HTTPRoute demo\/web: /, `${name}: names file, line and object`);
    t.match(lines.join('\n'), want, name);
  }
});

t.test('GRPCRoute limits and rules of its own', async (t) => {
  const grpc = (rules: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: g}]
  rules:
${rules}`;
  const cases: [string, string, RegExp][] = [
    ['no service or method', '    - matches: [{method: {type: Exact}}]\n', /matches\[0\]\.method: one or both of service and method must be set$/],
    ['bad exact method', '    - matches: [{method: {method: "Say.Hello"}}]\n', /matches\[0\]\.method\.method: must be a gRPC method name/],
    ['nine matches', `    - matches: ${MANY(9, '{method: {method: M#}}')}\n`, /spec\.rules\[0\]\.matches: at most 8 entries/],
    ['redirect on gRPC', '    - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n', /filters\[0\]\.type: RequestRedirect is not supported by meshlet on a GRPCRoute/],
    ['timeouts are HTTPRoute only', '    - timeouts: {request: 1s}\n', /spec\.rules\[0\]\.timeouts: unknown field$/],
  ];
  for (const [name, rules, want] of cases) {
    const lines = problems(grpc(rules));
    t.match(lines[0], /GRPCRoute demo\/g: /, `${name}: names the object`);
    t.match(lines.join('\n'), want, name);
  }
});
