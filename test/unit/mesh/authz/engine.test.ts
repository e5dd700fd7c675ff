/**
 * The engine's decisions in `request` mode: Istio's order (DENY, then ALLOW), every field of a
 * source, an operation and a condition, plaintext sources, audits, reasons and shared verdicts.
 */
import t from 'tap';
import { ruleHasL7, WorkloadAuthz } from '../../../../src/mesh/authz/engine.js';
import type { ServiceInfo } from '../../../../src/mesh/types.js';
import { allowOnly, attrs, authz, policy, request, without } from './fixture.js';

t.test('no policy: allowed at once, with one shared verdict', async (t) => {
  const a = authz([]);
  t.equal(a, WorkloadAuthz.NONE);
  t.equal(a.empty, true);
  const v = a.evaluate(request(), 'request');
  t.equal(v.allowed, true);
  t.equal(v.reason, 'no policy selects the workload');
  t.equal(v.decidedBy, undefined);
  t.equal(a.evaluate(attrs(), 'connection-opaque'), v, 'the same object');
  t.ok(Object.isFrozen(v));
  t.equal(a.evaluate(attrs(), 'connection-http').deferred, false);
});

t.test('an ALLOW policy with no rules denies everything', async (t) => {
  const a = authz([policy('allow-nothing', 'ALLOW', [])]);
  const v = a.evaluate(request(), 'request');
  t.equal(v.allowed, false);
  t.equal(v.reason, 'no ALLOW policy matched (1 selects the workload)');
  t.equal(v.decidedBy, undefined);
});

t.test('a DENY policy with no rules matches nothing', async (t) => {
  const v = authz([policy('deny-nothing', 'DENY', [])]).evaluate(request(), 'request');
  t.equal(v.allowed, true);
  t.equal(v.reason, 'no ALLOW policy selects the workload');
});

t.test('a rule {} matches everything', async (t) => {
  const v = allowOnly({}).evaluate(request(), 'request');
  t.equal(v.allowed, true);
  t.same(v.decidedBy, { policy: 'demo/allow', rule: 0, action: 'ALLOW' });
  t.equal(v.reason, 'ALLOW demo/allow rule 0');
});

t.test('DENY beats ALLOW', async (t) => {
  const a = authz([policy('allow-all', 'ALLOW', [{}]), policy('deny-web', 'DENY', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/web'] } }] }])]);
  const v = a.evaluate(request(), 'request');
  t.equal(v.allowed, false);
  t.same(v.decidedBy, { policy: 'demo/deny-web', rule: 0, action: 'DENY' });
  t.equal(v.reason, 'DENY demo/deny-web rule 0');
  t.equal(a.evaluate(request({}, { sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/other' }), 'request').allowed, true, 'another source is allowed');
});

t.test('ALLOW policies and the count in the denial', async (t) => {
  const a = authz([
    policy('a', 'ALLOW', [{ to: [{ operation: { ports: ['1'] } }] }]),
    policy('b', 'ALLOW', [{ to: [{ operation: { ports: ['2'] } }] }, { to: [{ operation: { ports: ['8080'] } }] }]),
  ]);
  const v = a.evaluate(attrs(), 'request');
  t.same(v.decidedBy, { policy: 'demo/b', rule: 1, action: 'ALLOW' });
  const d = a.evaluate(attrs({ destinationPort: 9 }), 'request');
  t.equal(d.allowed, false);
  t.equal(d.reason, 'no ALLOW policy matched (2 select the workload)');
  t.equal(a.evaluate(attrs({ destinationPort: 9 }), 'request'), d, 'the denial is shared');
});

t.test('namespace-wide and mesh-wide policies apply', async (t) => {
  const mesh = policy('meshlet-system/deny-legacy', 'DENY', [{ from: [{ source: { namespaces: ['legacy'] } }] }]);
  const ns = policy('allow-demo', 'ALLOW', [{ from: [{ source: { namespaces: ['demo', 'legacy'] } }] }]);
  const a = authz([mesh, ns]);
  t.equal(a.policies.length, 2);
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
  const legacy = a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/legacy/sa/x' }), 'request');
  t.same(legacy.decidedBy, { policy: 'meshlet-system/deny-legacy', rule: 0, action: 'DENY' });
});

t.test('mesh-selector policies apply to matching workloads of every namespace', async (t) => {
  const p = policy('meshlet-system/api-only-web', 'ALLOW', [{ from: [{ source: { principals: ['*/sa/web'] } }] }], { selector: { app: 'api' } });
  const a = authz([p]);
  t.equal(a.policies[0]?.selectedBy, 'mesh-selector');
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/db' }), 'request').allowed, false);
});

t.test('targetRef policies apply on their ports only', async (t) => {
  const services: ServiceInfo[] = [
    {
      key: 'demo/api',
      name: 'api',
      namespace: 'demo',
      vips: ['10.96.0.1'],
      ports: [{ port: 80, targetPort: 8080 }],
      endpoints: [{ workload: 'Pod/demo/api', address: '10.0.0.2', node: 'n', nodeAddress: '192.168.0.1', meshed: true, targetPorts: { 80: 8080 } }],
    },
  ];
  const deny = policy('deny-by-ref', 'DENY', [{}], { targetServices: ['api'] });
  const allow = policy('allow-by-ref', 'ALLOW', [{ from: [{ source: { principals: ['nobody'] } }] }], { targetServices: ['api'] });
  t.equal(authz([deny], services).evaluate(attrs({ destinationPort: 8080 }), 'request').allowed, false, 'DENY on its port');
  t.equal(authz([deny], services).evaluate(attrs({ destinationPort: 9090 }), 'request').allowed, true, 'DENY skipped on another port');
  const a = authz([allow], services);
  t.equal(a.evaluate(attrs({ destinationPort: 8080 }), 'request').allowed, false, 'ALLOW in force on its port');
  const other = a.evaluate(attrs({ destinationPort: 9090 }), 'request');
  t.equal(other.allowed, true, 'no ALLOW policy for another port');
  t.equal(other.reason, 'no ALLOW policy applies to the destination port');
});

t.test('principals: exact, wildcards, compared without spiffe://', async (t) => {
  const a = allowOnly({ from: [{ source: { principals: ['cluster.local/ns/demo/sa/web', 'cluster.local/ns/prod/*', '*/sa/batch'] } }] });
  t.equal(a.evaluate(attrs(), 'request').allowed, true, 'exact');
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/prod/sa/x' }), 'request').allowed, true, 'prefix');
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://other.td/ns/q/sa/batch' }), 'request').allowed, true, 'suffix');
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/Web' }), 'request').allowed, false, 'case-sensitive');
  t.equal(allowOnly({ from: [{ source: { principals: ['*'] } }] }).evaluate(attrs(), 'request').allowed, true, '* matches any identity');
});

t.test('namespaces come from the principal, never from an address', async (t) => {
  const a = allowOnly({ from: [{ source: { namespaces: ['demo'] } }] });
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/Demo/sa/web' }), 'request').allowed, false, 'case-sensitive');
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/prod/sa/demo' }), 'request').allowed, false, 'not another segment');
  const wild = allowOnly({ from: [{ source: { namespaces: ['team-*'] } }] });
  t.equal(wild.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/team-a/sa/x' }), 'request').allowed, true);
});

t.test('plaintext: principals and namespaces never match, their not* do, ipBlocks still match', async (t) => {
  const plain = without('sourcePrincipal');
  t.equal(allowOnly({ from: [{ source: { principals: ['*'] } }] }).evaluate(plain, 'request').allowed, false, 'principals ["*"]');
  t.equal(allowOnly({ from: [{ source: { namespaces: ['*'] } }] }).evaluate(plain, 'request').allowed, false, 'namespaces ["*"]');
  t.equal(allowOnly({ when: [{ key: 'source.principal', values: ['*'] }] }).evaluate(plain, 'request').allowed, false, 'source.principal');
  t.equal(allowOnly({ when: [{ key: 'source.namespace', values: ['*'] }] }).evaluate(plain, 'request').allowed, false, 'source.namespace');
  t.equal(allowOnly({ from: [{ source: { notPrincipals: ['cluster.local/ns/demo/sa/web'] } }] }).evaluate(plain, 'request').allowed, true, 'notPrincipals');
  t.equal(allowOnly({ from: [{ source: { notNamespaces: ['demo'] } }] }).evaluate(plain, 'request').allowed, true, 'notNamespaces');
  t.equal(allowOnly({ from: [{ source: { ipBlocks: ['10.0.0.0/24'] } }] }).evaluate(plain, 'request').allowed, true, 'ipBlocks');
});

t.test('a DENY of notPrincipals ["*"] denies plaintext and lets identities in', async (t) => {
  const a = authz([policy('require-mtls', 'DENY', [{ from: [{ source: { notPrincipals: ['*'] } }] }])]);
  const plain = { destinationIp: '10.0.0.2', destinationPort: 8080, sourceIp: '10.0.0.1' };
  t.equal(a.evaluate(plain, 'connection-opaque').allowed, false);
  t.equal(a.evaluate(plain, 'request').allowed, false);
  t.equal(a.evaluate(attrs(), 'connection-opaque').allowed, true);
});

t.test('ipBlocks and remoteIpBlocks: the source address and the original client', async (t) => {
  const ip = allowOnly({ from: [{ source: { ipBlocks: ['10.0.0.0/24'] } }] });
  t.equal(ip.evaluate(attrs(), 'request').allowed, true);
  t.equal(ip.evaluate(attrs({ sourceIp: '10.0.1.1' }), 'request').allowed, false);
  t.equal(ip.evaluate(without('sourceIp'), 'request').allowed, false, 'absent address');
  t.equal(allowOnly({ from: [{ source: { notIpBlocks: ['10.0.0.0/24'] } }] }).evaluate(without('sourceIp'), 'request').allowed, true, 'notIpBlocks of an absent address');
  const remote = allowOnly({ from: [{ source: { remoteIpBlocks: ['203.0.113.0/24'] } }] });
  t.equal(remote.evaluate(attrs({ remoteIp: '203.0.113.9' }), 'request').allowed, true);
  t.equal(remote.evaluate(attrs(), 'request').allowed, false, 'defaults to the source address');
  t.equal(allowOnly({ from: [{ source: { remoteIpBlocks: ['10.0.0.1'] } }] }).evaluate(attrs(), 'request').allowed, true, 'remote is the source when unknown');
  const v6 = allowOnly({ from: [{ source: { ipBlocks: ['fd00:10::/32'] } }] });
  t.equal(v6.evaluate(attrs({ sourceIp: 'fd00:10:0:1::5' }), 'request').allowed, true, 'IPv6 CIDR');
  t.equal(v6.evaluate(attrs({ sourceIp: 'fd00:11::5' }), 'request').allowed, false, 'outside the IPv6 CIDR');
});

t.test('a source: every field set must match; any entry of from', async (t) => {
  const both = allowOnly({ from: [{ source: { principals: ['*'], ipBlocks: ['192.168.0.0/16'] } }] });
  t.equal(both.evaluate(attrs(), 'request').allowed, false, 'principal matches, address does not');
  const either = allowOnly({ from: [{ source: { principals: ['nobody'] } }, { source: { ipBlocks: ['10.0.0.1'] } }] });
  t.equal(either.evaluate(attrs(), 'request').allowed, true, 'the second entry');
  const inAndOut = allowOnly({ from: [{ source: { namespaces: ['demo'], notPrincipals: ['cluster.local/ns/demo/sa/web'] } }] });
  t.equal(inAndOut.evaluate(attrs(), 'request').allowed, false, 'not* excludes');
});

t.test('from AND to AND when', async (t) => {
  const a = allowOnly({ from: [{ source: { namespaces: ['demo'] } }], to: [{ operation: { methods: ['GET'] } }], when: [{ key: 'request.headers[x-env]', values: ['prod'] }] });
  t.equal(a.evaluate(request({ headers: { 'x-env': 'prod' } }), 'request').allowed, true);
  t.equal(a.evaluate(request({ method: 'POST', headers: { 'x-env': 'prod' } }), 'request').allowed, false, 'to fails');
  t.equal(a.evaluate(request({ headers: { 'x-env': 'dev' } }), 'request').allowed, false, 'when fails');
});

t.test('operation fields: ports, methods, paths, hosts', async (t) => {
  t.equal(allowOnly({ to: [{ operation: { ports: ['8080'] } }] }).evaluate(attrs(), 'request').allowed, true, 'ports: the destination port');
  t.equal(allowOnly({ to: [{ operation: { notPorts: ['8080'] } }] }).evaluate(attrs(), 'request').allowed, false, 'notPorts');
  const methods = allowOnly({ to: [{ operation: { methods: ['GET', 'HEAD'] } }] });
  t.equal(methods.evaluate(request({ method: 'HEAD' }), 'request').allowed, true);
  t.equal(methods.evaluate(request({ method: 'get' }), 'request').allowed, false, 'methods are compared as written');
  t.equal(allowOnly({ to: [{ operation: { notMethods: ['DELETE'] } }] }).evaluate(request({ method: 'DELETE' }), 'request').allowed, false, 'notMethods');
  const paths = allowOnly({ to: [{ operation: { paths: ['/api/*', '/health'], notPaths: ['/api/admin*'] } }] });
  t.equal(paths.evaluate(request({ path: '/api/users?id=1' }), 'request').allowed, true, 'the query is not part of the path');
  t.equal(paths.evaluate(request({ path: '/health?x' }), 'request').allowed, true);
  t.equal(paths.evaluate(request({ path: '/api/admin/x' }), 'request').allowed, false, 'notPaths');
  t.equal(paths.evaluate(request({ path: '/api/../secret' }), 'request').allowed, false, 'dot segments are resolved first');
});

t.test('path templates', async (t) => {
  const a = allowOnly({ to: [{ operation: { paths: ['/users/{*}/profile', '/files/{**}'] } }] });
  t.equal(a.evaluate(request({ path: '/users/42/profile' }), 'request').allowed, true);
  t.equal(a.evaluate(request({ path: '/users/42/x/profile' }), 'request').allowed, false);
  t.equal(a.evaluate(request({ path: '/files/a/b/c.txt' }), 'request').allowed, true);
  t.equal(a.evaluate(request({ path: '/files' }), 'request').allowed, false);
});

t.test('hosts: case-insensitive, with and without the port', async (t) => {
  const a = allowOnly({ to: [{ operation: { hosts: ['API.demo.svc', 'web.example:8443', '*.internal'] } }] });
  t.equal(a.evaluate(request({ host: 'api.demo.svc' }), 'request').allowed, true, 'case');
  t.equal(a.evaluate(request({ host: 'api.demo.svc:8080' }), 'request').allowed, true, 'a host value matches the host with a port');
  t.equal(a.evaluate(request({ host: 'web.example:8443' }), 'request').allowed, true, 'a value with a port');
  t.equal(a.evaluate(request({ host: 'web.example' }), 'request').allowed, false, 'a value with a port needs it');
  t.equal(a.evaluate(request({ host: 'db.INTERNAL:5432' }), 'request').allowed, true, 'suffix, case and port');
  t.equal(a.evaluate(request({ host: 'evil.example' }), 'request').allowed, false);
  t.equal(allowOnly({ to: [{ operation: { notHosts: ['api'] } }] }).evaluate(request({ host: 'API:80' }), 'request').allowed, false, 'notHosts');
});

t.test('header conditions: several values joined, absent headers, notValues', async (t) => {
  const a = allowOnly({ when: [{ key: 'request.headers[x-group]', values: ['admin', 'ops, *'] }] });
  t.equal(a.evaluate(request({ headers: { 'x-group': 'admin' } }), 'request').allowed, true);
  t.equal(a.evaluate(request({ headers: { 'x-group': ['ops', 'dev'] } }), 'request').allowed, true, 'values joined with ", "');
  t.equal(a.evaluate(request({ headers: { 'x-group': ['admin', 'dev'] } }), 'request').allowed, false, 'joined, not each');
  t.equal(a.evaluate(request({ headers: {} }), 'request').allowed, false, 'absent');
  const not = allowOnly({ when: [{ key: 'request.headers[x-group]', notValues: ['banned'] }] });
  t.equal(not.evaluate(request({ headers: {} }), 'request').allowed, true, 'notValues of an absent header');
  t.equal(not.evaluate(request({ headers: { 'x-group': 'banned' } }), 'request').allowed, false);
  const present = allowOnly({ when: [{ key: 'request.headers[x-token]', values: ['*'] }] });
  t.equal(present.evaluate(request({ headers: { 'x-token': '' } }), 'request').allowed, true, '* is presence');
  t.equal(present.evaluate(request({ headers: { constructor: 'x' } }), 'request').allowed, false, 'no prototype lookups');
  const proto = allowOnly({ when: [{ key: 'request.headers[constructor]', values: ['*'] }] });
  t.equal(proto.evaluate(request({ headers: {} }), 'request').allowed, false, 'a header named like a prototype key is absent');
});

t.test('other conditions: source.ip, remote.ip, destination.ip, destination.port, connection.sni', async (t) => {
  t.equal(allowOnly({ when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }] }).evaluate(attrs(), 'request').allowed, true);
  t.equal(allowOnly({ when: [{ key: 'remote.ip', values: ['203.0.113.1'] }] }).evaluate(attrs({ remoteIp: '203.0.113.1' }), 'request').allowed, true);
  t.equal(allowOnly({ when: [{ key: 'destination.ip', values: ['10.0.0.2'] }] }).evaluate(attrs(), 'request').allowed, true);
  t.equal(allowOnly({ when: [{ key: 'destination.port', values: ['8080'], notValues: ['9090'] }] }).evaluate(attrs(), 'request').allowed, true);
  const sni = allowOnly({ when: [{ key: 'connection.sni', values: ['*.example.com'] }] });
  t.equal(sni.evaluate(attrs({ sni: 'api.example.com' }), 'request').allowed, true);
  t.equal(sni.evaluate(attrs(), 'request').allowed, false, 'no SNI');
  t.equal(allowOnly({ when: [{ key: 'connection.sni', notValues: ['x'] }] }).evaluate(attrs(), 'request').allowed, true, 'notValues without SNI');
});

t.test('audits: every matching AUDIT policy is listed, none decides', async (t) => {
  const a = authz([
    policy('audit-web', 'AUDIT', [{ from: [{ source: { principals: ['nobody'] } }] }, { from: [{ source: { namespaces: ['demo'] } }] }]),
    policy('audit-all', 'AUDIT', [{}]),
    policy('audit-none', 'AUDIT', [{ to: [{ operation: { ports: ['1'] } }] }]),
    policy('deny-all', 'DENY', [{}]),
  ]);
  const v = a.evaluate(attrs(), 'request');
  t.equal(v.allowed, false, 'the DENY still decides');
  t.same(v.audits, [{ policy: 'demo/audit-all', rule: 0 }, { policy: 'demo/audit-web', rule: 1 }], 'in evaluation order, the first matching rule of each');
  t.ok(Object.isFrozen(v));
  const onlyAudit = authz([policy('audit-all', 'AUDIT', [{}])]).evaluate(attrs(), 'request');
  t.equal(onlyAudit.allowed, true);
  t.same(onlyAudit.audits, [{ policy: 'demo/audit-all', rule: 0 }]);
});

t.test('verdicts are shared and frozen when no audit matched', async (t) => {
  const a = allowOnly({});
  const v1 = a.evaluate(attrs(), 'request');
  const v2 = a.evaluate(attrs({ sourceIp: '10.9.9.9' }), 'connection-opaque');
  t.equal(v1, v2);
  t.ok(Object.isFrozen(v1));
  t.ok(Object.isFrozen(v1.decidedBy));
  t.ok(Object.isFrozen(v1.audits));
});

t.test('ruleHasL7 and hasL7', async (t) => {
  t.equal(ruleHasL7({}), false);
  t.equal(ruleHasL7({ to: [{ operation: { ports: ['80'] } }], when: [{ key: 'source.ip', values: ['10.0.0.1'] }] }), false);
  for (const field of ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts']) {
    t.equal(ruleHasL7({ to: [{ operation: { [field]: ['x'] } }] }), true, field);
  }
  t.equal(ruleHasL7({ when: [{ key: 'request.headers[x]', values: ['y'] }] }), true, 'request.* condition');
  t.equal(allowOnly({ to: [{ operation: { paths: ['/'] } }] }).hasL7, true);
  t.equal(allowOnly({}).hasL7, false);
});

t.test('a bad value in plain data is an error naming the policy and field, never skipped', async (t) => {
  const p = policy('bad', 'ALLOW', [{ from: [{ source: { notIpBlocks: ['10.0.0.0/99'] } }] }]);
  t.throws(() => authz([p]), { code: 'MESHLET_ERR_OBJECT_INVALID', message: /demo\/bad: rules\[0\]\.from\[0\]\.source\.notIpBlocks: .*10\.0\.0\.0\/99/ });
  const k = policy('badkey', 'DENY', [{ when: [{ key: 'request.auth.claims[x]' as 'source.ip', values: ['y'] }] }]);
  t.throws(() => authz([k]), { code: 'MESHLET_ERR_OBJECT_INVALID', message: /unsupported key/ });
});

t.test('compiled policies are shared between workloads', async (t) => {
  const p = policy('shared', 'ALLOW', [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }]);
  const a = authz([p]);
  const b = authz([p]);
  t.not(a, b);
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
  t.equal(a.evaluate(attrs(), 'request'), b.evaluate(attrs(), 'request'), 'the same rule verdict object');
});

t.test('hostile values: long paths, dot segments, odd identities, prototype names', async (t) => {
  const deny = authz([policy('deny-admin', 'DENY', [{ to: [{ operation: { paths: ['/admin*', '/t/{*}/{**}/end'] } }] }])]);
  const dots = `${'/x/..'.repeat(20_000)}/admin`;
  t.equal(deny.evaluate(request({ path: dots }), 'request').allowed, false, '20,000 dot segments still reach /admin');
  const long = `/t/a/${'b/'.repeat(50_000)}end`;
  t.equal(deny.evaluate(request({ path: long }), 'request').allowed, false, 'a 100 KB path against a template');
  t.equal(deny.evaluate(request({ path: `/t/a/${'b/'.repeat(50_000)}nope` }), 'request').allowed, true);
  const ns = allowOnly({ from: [{ source: { namespaces: ['a'] } }] });
  t.equal(ns.evaluate(attrs({ sourcePrincipal: 'spiffe://td/ns/a/sa/b/ns/c' }), 'request').allowed, true, 'the first ns segment counts');
  t.equal(ns.evaluate(attrs({ sourcePrincipal: 'spiffe://td/sa/b/ns/a' }), 'request').allowed, false, 'ns after sa is not a namespace');
  t.equal(ns.evaluate(attrs({ sourcePrincipal: '' }), 'request').allowed, false, 'an empty identity is none');
  const header = allowOnly({ when: [{ key: 'request.headers[__proto__]', values: ['*'] }] });
  t.equal(header.evaluate(request({ headers: {} }), 'request').allowed, false, '__proto__ is no header');
  const hostile = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
  t.equal(header.evaluate(request({ headers: hostile }), 'request').allowed, true, 'unless sent as one');
});

t.test('the same peer in a row: the cached principal follows the attributes', async (t) => {
  const a = allowOnly({ from: [{ source: { principals: ['cluster.local/ns/demo/sa/web'] } }] });
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/db' }), 'request').allowed, false);
  t.equal(a.evaluate(without('sourcePrincipal'), 'request').allowed, false);
  t.equal(a.evaluate(attrs(), 'request').allowed, true);
});
