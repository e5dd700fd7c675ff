/**
 * `explainQuery`: the mode a query implies, the attributes handed to the engine, the verdicts
 * on the fixture's policies, and the HTTP part's bounds attacked (sizes, control characters,
 * header counts).
 */
import t, { type Test } from 'tap';
import { explainQuery, type ExplainQuery, type ExplainResult } from '../../../../src/mesh/authz/explain-query.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { explainData } from '../../cli/policy-fixture.js';

const data = explainData();
const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';

function explain(q: Partial<ExplainQuery>): ExplainResult {
  return explainQuery({ source: 'pod/demo/client', destination: 'svc/demo/web:80', ...q }, data);
}

function first(r: ExplainResult): ExplainResult['targets'][number] {
  const target = r.targets[0];
  if (target === undefined) throw new Error('no target');
  return target;
}

function usageError(t: Test, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), `MESHLET_ERR_CONFIG_INVALID: ${(err as Error).message}`);
    return (err as Error).message;
  }
  t.fail('no error thrown');
  return '';
}

t.test('the mode: connection-http on an HTTP port, connection-opaque on an opaque one, request with any HTTP field', async (t) => {
  t.equal(first(explain({})).mode, 'connection-http');
  t.equal(first(explain({})).protocol, 'http');
  t.equal(first(explain({ destination: 'svc/demo/web:9000' })).mode, 'connection-opaque');
  t.equal(first(explain({ destination: 'svc/demo/web:9000' })).protocol, 'tcp');
  for (const q of [{ method: 'POST' }, { path: '/x' }, { host: 'h' }, { headers: { 'x-a': '1' } }]) t.equal(first(explain(q)).mode, 'request', JSON.stringify(q));
  t.equal(first(explain({ mode: 'connection-opaque' })).mode, 'connection-opaque', 'a forced mode wins');
  t.equal(first(explain({ destination: 'pod/demo/web-1', port: 8080 })).mode, 'connection-http', 'a workload port a Service declares HTTP');
  const undeclared = first(explain({ destination: 'pod/demo/client', port: 1234, source: 'pod/demo/web-1' }));
  t.equal(undeclared.protocol, 'detect');
  t.equal(undeclared.mode, 'connection-opaque');
  t.match(undeclared.notes.join('\n'), /port 1234 declares no protocol: a meshed client's source agent sniffs it/);
  t.match(first(explain({ destination: 'svc/demo/web:9000', path: '/' })).notes.join('\n'), /port 9000 is declared opaque: the proxy never parses requests there/);
});

t.test('the attributes: identity, addresses, port, and the request with its defaults', async (t) => {
  const conn = first(explain({ sni: 'web.example' }));
  t.same(conn.attributes, { sourcePrincipal: CLIENT, sourceIp: '198.18.1.11', destinationIp: '198.18.1.10', destinationPort: 8080, sni: 'web.example' });
  const req = first(explain({ path: '/api/x', headers: { 'X-User': 'bob' } }));
  t.same(req.attributes.request, { method: 'GET', path: '/api/x', host: 'web.demo.svc.cluster.local', headers: { 'x-user': 'bob' } });
  t.equal(first(explain({ destination: 'svc/demo/web:9000', method: 'GET' })).attributes.request?.host, 'web.demo.svc.cluster.local:9000', 'a port other than 80 is in the host');
  t.equal(first(explain({ destination: '198.18.1.10:8080', method: 'GET' })).attributes.request?.host, '198.18.1.10:8080', 'an address destination: the address');
  t.equal(first(explain({ method: 'GET', host: 'web' })).attributes.request?.host, 'web');
  const plain = first(explain({ source: '10.9.9.9' }));
  t.equal(plain.attributes.sourcePrincipal, undefined);
  t.equal(plain.attributes.sourceIp, '10.9.9.9');
  const id = first(explain({ source: CLIENT }));
  t.equal(id.attributes.sourceIp, undefined);
});

t.test('verdicts on the fixture: the ALLOW rule, the DENY rule, no ALLOW match, each endpoint', async (t) => {
  const allowed = explain({ path: '/api/orders' });
  t.equal(allowed.allowed, true);
  t.equal(allowed.targets.length, 2);
  t.same(first(allowed).explanation.verdict.decidedBy, { policy: 'demo/allow-client', rule: 1, action: 'ALLOW' });
  const admin = explain({ path: '/admin/x' });
  t.equal(admin.allowed, false);
  t.same(first(admin).explanation.verdict.decidedBy, { policy: 'demo/deny-admin', rule: 0, action: 'DENY' });
  const post = explain({ method: 'POST', path: '/api/orders' });
  t.equal(post.allowed, false);
  t.equal(first(post).explanation.verdict.decidedBy, undefined, 'no rule decided: ALLOW policies select it and none matched');
  t.same(first(post).explanation.policies.map((p) => `${p.action} ${p.policy}`), ['DENY demo/deny-admin', 'ALLOW demo/allow-client']);
  t.equal(explain({ source: 'pod/other/db', path: '/x' }).allowed, true, 'db is allowed any request by rules[0]');
  t.equal(explain({ source: 'plaintext:pod/demo/client', path: '/api/x' }).allowed, false, 'no identity, no principal');
  t.equal(explain({ destination: 'svc/other/db' }).allowed, true, 'namespace demo may reach db');
  t.equal(explain({ source: 'pod/plain/legacy', destination: 'svc/other/db' }).allowed, false);
  const unprotected = explain({ source: 'pod/demo/web-1', destination: 'pod/demo/client', port: 1234 });
  t.equal(unprotected.allowed, true);
  t.same(first(unprotected).explanation.policies, [], 'no policy selects the client');
});

t.test('a result names its source, destination and each target\'s workload, node, identity, service', async (t) => {
  const r = explain({ method: 'GET' });
  t.equal(r.source.workload, 'Pod/demo/client');
  t.equal(r.destination, 'svc/demo/web:80');
  t.same(r.targets.map((x) => [x.workload, x.node, x.identity, x.service, x.servicePort, x.port]), [
    ['Pod/demo/web-1', 'node-a', 'spiffe://cluster.local/ns/demo/sa/web', 'demo/web', 80, 8080],
    ['Pod/demo/web-2', 'node-b', 'spiffe://cluster.local/ns/demo/sa/web', 'demo/web', 80, 8080],
  ]);
  const remote = explainQuery({ source: 'pod/demo/client', destination: 'svc/demo/web:80' }, { ...data, node: 'node-a' });
  t.same(remote.targets.map((x) => x.notes.some((n) => /runs on node node-b: its agent enforces this/.test(n))), [false, true]);
});

t.test('the HTTP part is bounded and checked: method, path, host, sni, headers', async (t) => {
  t.match(usageError(t, () => explain({ method: 'GET /' })), /^method "GET \/": want an HTTP method token/);
  t.match(usageError(t, () => explain({ method: 'X'.repeat(33) })), /^method /);
  t.match(usageError(t, () => explain({ path: 'api' })), /^path "api": want a request target starting with \//);
  t.match(usageError(t, () => explain({ path: '/a b' })), /^path /);
  t.match(usageError(t, () => explain({ path: '/a\u0000' })), /control characters/);
  t.match(usageError(t, () => explain({ path: `/${'a'.repeat(9000)}` })), /want 1 to 8192 characters/);
  t.match(usageError(t, () => explain({ host: 'a\r\nb' })), /^host /);
  t.match(usageError(t, () => explain({ sni: 'x'.repeat(600) })), /^sni /);
  t.match(usageError(t, () => explain({ headers: { 'bad name': 'v' } })), /^header "bad name": not a header name/);
  t.match(usageError(t, () => explain({ headers: { a: 'x\r\ny: z' } })), /control characters/);
  t.match(usageError(t, () => explain({ headers: { a: 'x'.repeat(9000) } })), /longer than 8192/);
  t.match(usageError(t, () => explain({ headers: { A: '1', a: '2' } })), /header a: given twice/);
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, 'v']));
  t.match(usageError(t, () => explain({ headers: many })), /headers: 65 given, at most 64/);
  t.equal(first(explain({ headers: { a: 'tab\there' } })).attributes.request?.headers['a'], 'tab\there', 'a tab is a legal header character');
});
