/**
 * Gateway API matching: every kind of match, the PathPrefix segment rule, the precedence
 * ladder across rules and routes, gRPC routes, weighted picks, and the filters' math against
 * the spec's examples.
 */
import t from 'tap';
import {
  applyHeaderModifier, matchRoute, pickBackend, prefixMatches, redirectLocation, rewritePath, type RouteRequest,
} from '../../../../src/agent/policy/route-match.js';
import {
  DEFAULT_HTTP_MATCH, fullMatch, pathPrefix, type BackendRef, type GrpcRouteInfo, type GrpcRouteMatch, type HttpRouteInfo, type HttpRouteMatch, type PathMatch, type RouteInfo,
} from '../../../../src/mesh/routes.js';

const be = (name: string, weight = 1): BackendRef => ({ name, namespace: 'demo', weight });

function m(path: PathMatch, extra: Partial<HttpRouteMatch> = {}): HttpRouteMatch {
  return { path, headers: [], queryParams: [], ...extra };
}

/** A route whose rule i sends to backend `<name>-<i>`. */
function route(name: string, matches: HttpRouteMatch[][], extra: Partial<HttpRouteInfo> = {}): HttpRouteInfo {
  return {
    kind: 'HTTPRoute', namespace: 'demo', name, creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }],
    rules: matches.map((ms, i) => ({ matches: ms, filters: [], backendRefs: [be(`${name}-${i}`)], timeouts: {} })),
    ...extra,
  };
}

const req = (path: string, extra: Partial<RouteRequest> = {}): RouteRequest => ({ method: 'GET', path, query: '', headers: {}, ...extra });

/** Name of the backend the request is routed to, or 'none'. */
function to(routes: readonly RouteInfo[], r: RouteRequest): string {
  return matchRoute(routes, r)?.rule.backendRefs[0]?.name ?? 'none';
}

const exact = (value: string): PathMatch => ({ type: 'Exact', value });
const regex = (value: string): PathMatch => ({ type: 'RegularExpression', value, regex: fullMatch(value) });

t.test('PathPrefix matches by path segments; a trailing slash in the prefix is ignored', async (t) => {
  t.equal(prefixMatches('/foo', '/foo'), true);
  t.equal(prefixMatches('/foo', '/foo/'), true);
  t.equal(prefixMatches('/foo', '/foo/bar'), true);
  t.equal(prefixMatches('/foo', '/foobar'), false);
  t.equal(prefixMatches('/foo', '/fo'), false);
  t.equal(prefixMatches('', '/anything'), true, 'prefix /');
  const routes = [route('r', [[m(pathPrefix('/foo/'))]])];
  t.equal(to(routes, req('/foo')), 'r-0', '/foo/ matches /foo');
  t.equal(to(routes, req('/foo/bar')), 'r-0');
  t.equal(to(routes, req('/foobar')), 'none');
  t.equal(to([route('d', [[DEFAULT_HTTP_MATCH]])], req('/x/y')), 'd-0', 'a rule without matches takes every path');
});

t.test('Exact and RegularExpression paths; regexes are full matches', async (t) => {
  const routes = [route('r', [[m(exact('/a'))], [m(regex('/u/[0-9]+'))]])];
  t.equal(to(routes, req('/a')), 'r-0');
  t.equal(to(routes, req('/a/')), 'none', 'exact means exact');
  t.equal(to(routes, req('/u/42')), 'r-1');
  t.equal(to(routes, req('/u/42/x')), 'none', 'anchored');
});

t.test('method, headers (names case-insensitive, values exact or regex) and query params', async (t) => {
  const routes = [route('r', [
    [m(pathPrefix('/'), { method: 'POST' })],
    [m(pathPrefix('/'), { headers: [{ name: 'x-canary', match: { type: 'Exact', value: 'yes' } }] })],
    [m(pathPrefix('/'), { headers: [{ name: 'user-agent', match: { type: 'RegularExpression', value: '.*Mobile.*', regex: fullMatch('.*Mobile.*') } }] })],
    [m(pathPrefix('/'), { queryParams: [{ name: 'v', match: { type: 'Exact', value: '2' } }] })],
    [m(pathPrefix('/'), { queryParams: [{ name: 'id', match: { type: 'RegularExpression', value: '[a-f]+', regex: fullMatch('[a-f]+') } }] })],
  ])];
  t.equal(to(routes, req('/', { method: 'POST' })), 'r-0');
  t.equal(to(routes, req('/', { headers: { 'x-canary': 'yes' } })), 'r-1');
  t.equal(to(routes, req('/', { headers: { 'x-canary': 'YES' } })), 'none', 'values are case-sensitive');
  t.equal(to(routes, req('/', { headers: { 'user-agent': 'Foo Mobile Bar' } })), 'r-2');
  t.equal(to(routes, req('/', { query: 'a=1&v=2' })), 'r-3');
  t.equal(to(routes, req('/', { query: 'v=2&v=3' })), 'r-3', 'a repeated parameter: the first value');
  t.equal(to(routes, req('/', { query: 'v=3&v=2' })), 'none');
  t.equal(to(routes, req('/', { query: 'id=beef' })), 'r-4');
  t.equal(to(routes, req('/', { query: 'id=b33f' })), 'none');
  t.equal(to(routes, req('/', { method: 'GET' })), 'none', 'no rule matched: the caller answers 404');
});

t.test('the precedence ladder across rules and routes', async (t) => {
  const h = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, match: { type: 'Exact' as const, value: '1' } }));
  const allHeaders = { h0: '1', h1: '1', h2: '1' };
  // Listed worst first, so list order never explains the outcome.
  const routes = [
    route('z', [
      [m(regex('/a/.*'))],
      [m(pathPrefix('/a'), { queryParams: [{ name: 'q', match: { type: 'Exact', value: '1' } }] })],
      [m(pathPrefix('/a'), { headers: h(1) })],
      [m(pathPrefix('/a'), { headers: h(2) })],
      [m(pathPrefix('/a'), { method: 'GET' })],
      [m(pathPrefix('/a/b'))],
      [m(exact('/a/b/c'))],
    ]),
  ];
  t.equal(to(routes, req('/a/b/c', { headers: allHeaders, query: 'q=1' })), 'z-6', 'Exact wins');
  t.equal(to(routes, req('/a/b/d', { headers: allHeaders, query: 'q=1' })), 'z-5', 'then the longest prefix');
  t.equal(to(routes, req('/a/x', { headers: allHeaders, query: 'q=1' })), 'z-4', 'then a method match');
  t.equal(to(routes, req('/a/x', { method: 'PUT', headers: allHeaders, query: 'q=1' })), 'z-3', 'then the most headers');
  t.equal(to(routes, req('/a/x', { method: 'PUT', headers: { h0: '1' }, query: 'q=1' })), 'z-2', 'one header beats query params');
  t.equal(to(routes, req('/a/x', { method: 'PUT', query: 'q=1' })), 'z-1', 'then the most query params');
  t.equal(to(routes, req('/a/x', { method: 'PUT' })), 'z-0', 'a regex path ranks after every prefix');
});

t.test('ties: the oldest route, then namespace/name, then rule order', async (t) => {
  const same = (): HttpRouteMatch[][] => [[m(pathPrefix('/'))]];
  t.equal(to([route('b', same(), { creationTimestamp: 2 }), route('a', same(), { creationTimestamp: 5 })], req('/')), 'b-0', 'oldest first');
  t.equal(to([route('b', same()), route('a', same())], req('/')), 'a-0', 'then alphabetical');
  t.equal(to([route('b', same(), { namespace: 'a-ns' }), route('a', same(), { namespace: 'b-ns' })], req('/')), 'b-0', 'namespace first in namespace/name');
  t.equal(to([route('r', [[m(pathPrefix('/'))], [m(pathPrefix('/'))]])], req('/')), 'r-0', 'then the first rule');
});

t.test('GRPCRoute: service and method matches, precedence, and only gRPC requests', async (t) => {
  const gm = (method: GrpcRouteMatch['method']): GrpcRouteMatch => ({ headers: [], ...(method === undefined ? {} : { method }) });
  const g: GrpcRouteInfo = {
    kind: 'GRPCRoute', namespace: 'demo', name: 'g', creationTimestamp: 0, parents: [],
    rules: [
      { matches: [gm(undefined)], filters: [], backendRefs: [be('any')] },
      { matches: [gm({ type: 'Exact', service: 'pkg.Echo' })], filters: [], backendRefs: [be('svc')] },
      { matches: [gm({ type: 'Exact', service: 'pkg.Echo', method: 'Say' })], filters: [], backendRefs: [be('svc-method')] },
      { matches: [gm({ type: 'RegularExpression', method: 'Stream.*', methodRegex: fullMatch('Stream.*') })], filters: [], backendRefs: [be('re')] },
    ],
  };
  const routes: RouteInfo[] = [g, route('h', [[DEFAULT_HTTP_MATCH]])];
  const grpc = (path: string): RouteRequest => req(path, { method: 'POST', headers: { 'content-type': 'application/grpc' } });
  t.equal(to(routes, grpc('/pkg.Echo/Say')), 'svc-method', 'service and method beat service only');
  t.equal(to(routes, grpc('/pkg.Echo/Other')), 'svc');
  t.equal(to(routes, grpc('/other.Svc/StreamAll')), 're');
  t.equal(to(routes, grpc('/other.Svc/Unary')), 'any');
  t.equal(to(routes, req('/pkg.Echo/Say', { method: 'POST' })), 'h-0', 'not gRPC: HTTPRoutes only');
  t.equal(to([g], req('/pkg.Echo/Say', { method: 'POST', headers: { 'content-type': 'application/grpc+proto' } })), 'svc-method');
});

t.test('attack: RegularExpression matches on 16 KiB of attacker input finish, whatever the pattern (RE2: linear time)', async (t) => {
  const rx = (value: string) => ({ type: 'RegularExpression' as const, value, regex: fullMatch(value) });
  // Polynomial (n^6) and exponential (2^n) for a backtracking engine on these inputs; one pass here.
  const routes = [route('r', [
    [m(regex('.*.*.*.*.*.*x'))],
    [m(pathPrefix('/'), { headers: [{ name: 'x-a', match: rx('(a|aa)+b') }] })],
    [m(pathPrefix('/'), { queryParams: [{ name: 'q', match: rx('(.*){1,32}x') }] })],
  ])];
  const a = 'a'.repeat(16 * 1024);
  t.equal(to(routes, req(`/${a}`, { headers: { 'x-a': a }, query: `q=${a}` })), 'none', 'none of the three matches');
  t.equal(to(routes, req(`/${a}x`)), 'r-0', 'path');
  t.equal(to(routes, req('/', { headers: { 'x-a': `${a}b` } })), 'r-1', 'header');
  t.equal(to(routes, req('/', { query: `q=${a}x` })), 'r-2', 'query parameter');
  const g: GrpcRouteInfo = {
    kind: 'GRPCRoute', namespace: 'demo', name: 'g', creationTimestamp: 0, parents: [],
    rules: [{ matches: [{ headers: [], method: { type: 'RegularExpression', service: '(a+)+', serviceRegex: fullMatch('(a+)+'), method: 'a*a*a*a*a*b', methodRegex: fullMatch('a*a*a*a*a*b') } }], filters: [], backendRefs: [be('re')] }],
  };
  const grpc = (path: string): RouteRequest => req(path, { method: 'POST', headers: { 'content-type': 'application/grpc' } });
  t.equal(to([g], grpc(`/${a}!/${a}`)), 'none', 'gRPC service and method');
  t.equal(to([g], grpc(`/${a}/${a}b`)), 're');
});

t.test('pickBackend: a 90/10 split over 100,000 draws lands within ±1%', async (t) => {
  const rule = { backendRefs: [be('stable', 90), be('canary', 10)] };
  let seed = 12345;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let canary = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) if (pickBackend(rule, random)?.name === 'canary') canary++;
  t.ok(Math.abs(canary / n - 0.1) < 0.01, `canary share ${(canary / n).toFixed(4)}`);
  t.equal(pickBackend({ backendRefs: [be('a', 0), be('b', 3)] }, () => 0)?.name, 'b', 'weight 0 is never picked');
  t.equal(pickBackend({ backendRefs: [be('a', 1), be('b', 1)] }, () => 0.999999)?.name, 'b');
  t.equal(pickBackend({ backendRefs: [be('a', 0)] }, () => 0.5), undefined, 'all zero: none (500)');
  t.equal(pickBackend({ backendRefs: [] }, () => 0.5), undefined);
});

t.test('header modifiers: remove, then set, then add (appended with a comma)', async (t) => {
  const out = applyHeaderModifier(
    { 'my-header': 'foo', 'x-drop': 'x', 'x-set': 'old', 'set-cookie': ['a=1'] },
    { set: [{ name: 'x-set', value: 'new' }], add: [{ name: 'my-header', value: 'bar' }, { name: 'x-new', value: '1' }, { name: 'set-cookie', value: 'b=2' }], remove: ['x-drop'] },
  );
  t.same(out, { 'my-header': 'foo,bar', 'x-set': 'new', 'set-cookie': ['a=1', 'b=2'], 'x-new': '1' });
});

t.test("ReplacePrefixMatch: the spec's table", async (t) => {
  const rows: Array<[string, string, string, string]> = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    ['/a/b', '/', '/x', '/x/a/b'],
  ];
  const got = rows.map(([path, prefix, repl]) => [path, prefix, repl, rewritePath(path, m(pathPrefix(prefix)), { type: 'ReplacePrefixMatch', replacePrefixMatch: repl })]);
  t.same(got, rows);
  t.equal(rewritePath('/a/b', m(exact('/a/b')), { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' }), '/a/b', 'needs a PathPrefix match');
  t.equal(rewritePath('/a/b', undefined, { type: 'ReplaceFullPath', replaceFullPath: '/new' }), '/new');
});

t.test('redirect Location: default port rules, well-known ports left out, query kept', async (t) => {
  const r = { path: '/old/x', query: 'a=1', authority: 'web.demo:8080', scheme: 'http' as const, port: 8080 };
  t.equal(redirectLocation(r, undefined, { statusCode: 302 }), 'http://web.demo:8080/old/x?a=1', 'no scheme: the port the request came to');
  t.equal(redirectLocation(r, undefined, { statusCode: 302, scheme: 'https' }), 'https://web.demo/old/x?a=1', 'scheme set: its well-known port, left out');
  t.equal(redirectLocation(r, undefined, { statusCode: 301, scheme: 'https', port: 8443 }), 'https://web.demo:8443/old/x?a=1');
  t.equal(redirectLocation({ ...r, port: 80, authority: 'web.demo' }, undefined, { statusCode: 302 }), 'http://web.demo/old/x?a=1', 'http on 80: no port');
  t.equal(redirectLocation(r, undefined, { statusCode: 302, hostname: 'new.demo', port: 80 }), 'http://new.demo/old/x?a=1');
  t.equal(
    redirectLocation(r, m(pathPrefix('/old')), { statusCode: 302, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } }),
    'http://web.demo:8080/new/x?a=1',
  );
  t.equal(redirectLocation({ ...r, authority: '[fd00::1]:8080', query: '' }, undefined, { statusCode: 302 }), 'http://[fd00::1]:8080/old/x');
});
