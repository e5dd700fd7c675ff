/**
 * `explain()`: every policy, rule and field with the value compared; and its verdict equals
 * `evaluate()`'s on generated policies and traffic (fast-check, fixed seed).
 */
import t from 'tap';
import fc from 'fast-check';
import type { AuthorizationPolicyData, AuthzAttributes, AuthzCondition, AuthzMode, AuthzOperation, AuthzRule, AuthzSource } from '../../../../src/mesh/authz/types.js';
import type { ServiceInfo } from '../../../../src/mesh/types.js';
import { attrs, authz, policy, request, without } from './fixture.js';

t.test('explain lists each field with the actual value and whether it matched', async (t) => {
  const a = authz([
    policy('deny-admin', 'DENY', [{ to: [{ operation: { paths: ['/admin*'] } }] }]),
    policy('allow-web', 'ALLOW', [{ from: [{ source: { principals: ['cluster.local/ns/demo/sa/db'] } }, { source: { namespaces: ['demo'] } }], when: [{ key: 'request.headers[x-env]', values: ['prod'], notValues: ['dev'] }] }]),
  ]);
  const e = a.explain(request({ path: '/x?y', headers: { 'x-env': 'prod' } }), 'request');
  t.equal(e.mode, 'request');
  t.same(e.policies.map((p) => [p.policy, p.action, p.matched]), [['demo/deny-admin', 'DENY', false], ['demo/allow-web', 'ALLOW', true]]);
  const fields = e.policies[1]?.rules[0]?.fields ?? [];
  t.same(fields.map((f) => [f.field, f.actual, f.matched]), [
    ['rules[0].from[0].source.principals', 'cluster.local/ns/demo/sa/web', false],
    ['rules[0].from[1].source.namespaces', 'demo', true],
    ['rules[0].when[0]', 'prod', true],
    ['rules[0].when[0].notValues', 'prod', true],
  ]);
  t.equal(fields[2]?.note, 'request.headers[x-env]', 'a condition names its key');
  t.equal(e.policies[0]?.rules[0]?.fields[0]?.actual, '/x', 'the path as compared');
  t.equal(e.policies[1]?.matchedRule, 0);
  t.same(e.verdict, a.evaluate(request({ path: '/x?y', headers: { 'x-env': 'prod' } }), 'request'));
});

t.test('explain notes plaintext, fail-closed L7 fields, empty policies and ports', async (t) => {
  const a = authz([policy('allow-get', 'ALLOW', [{ from: [{ source: { principals: ['*'] } }], to: [{ operation: { methods: ['GET'] } }] }]), policy('nothing', 'ALLOW', [])]);
  const e = a.explain(without('sourcePrincipal'), 'connection-opaque');
  const [principal, method] = e.policies[0]?.rules[0]?.fields ?? [];
  t.equal(principal?.matched, false);
  t.equal(principal?.actual, undefined);
  t.equal(principal?.note, 'no identity (plaintext)');
  t.equal(method?.matched, 'unknown');
  t.equal(method?.note, 'L7 field on a connection that is not HTTP: fails closed');
  t.equal(e.policies[1]?.note, 'no rules: matches nothing');
  t.equal(e.verdict.allowed, false);
});

t.test('explain notes a targetRef policy that does not apply to the port', async (t) => {
  const services: ServiceInfo[] = [{ key: 'demo/api', name: 'api', namespace: 'demo', vips: [], ports: [], endpoints: [{ workload: 'Pod/demo/api', address: '10.0.0.2', node: 'n', nodeAddress: '192.168.0.1', meshed: true, targetPorts: { 80: 9090 } }] }];
  const a = authz([policy('deny-ref', 'DENY', [{}], { targetServices: ['api'] })], services);
  const e = a.explain(attrs(), 'request');
  t.equal(e.policies[0]?.matched, false);
  t.equal(e.policies[0]?.note, 'targetRef: only port 9090: not applied to this destination port');
  t.same(e.policies[0]?.rules, []);
  t.equal(e.verdict.allowed, true);
});

t.test('explain with no policy', async (t) => {
  const e = authz([]).explain(attrs(), 'connection-http');
  t.same(e.policies, []);
  t.equal(e.verdict.reason, 'no policy selects the workload');
  t.equal(e.verdict.deferred, false);
});

// ---------------------------------------------------------------------------------------------
// explain() and evaluate() agree on generated cases.

const PRINCIPALS = ['cluster.local/ns/demo/sa/web', 'cluster.local/ns/prod/*', '*/sa/db', '*'];
const IDS = ['spiffe://cluster.local/ns/demo/sa/web', 'spiffe://cluster.local/ns/prod/sa/db', 'spiffe://other/ns/x/sa/db'];
const NAMESPACES = ['demo', 'prod', 'x*', '*'];
const BLOCKS = ['10.0.0.0/24', '10.0.1.5', 'fd00::/8', '0.0.0.0/0'];
const ADDRESSES = ['10.0.0.1', '10.0.1.5', 'fd00::1', '192.168.0.1'];
const PORTS = ['80', '8080'];
const METHODS = ['GET', 'POST', '*'];
const PATHS = ['/a*', '/b/{*}', '/c/{**}', '*.png', '/'];
const REQ_PATHS = ['/a/b', '/b/x', '/c/d/e', '/x.png', '/', '/b/x/y?q=1'];
const HOSTS = ['api', '*.example.com', 'api:8080'];
const REQ_HOSTS = ['api', 'API:8080', 'x.example.com', 'other'];

const some = <T>(values: readonly T[]): fc.Arbitrary<T[]> => fc.subarray([...values], { minLength: 1 });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });

/** `o` without its undefined fields, as the type `T` (optional fields absent, not undefined). */
function compact<T>(o: object): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const source: fc.Arbitrary<AuthzSource> = fc
  .record({ principals: opt(some(PRINCIPALS)), notPrincipals: opt(some(PRINCIPALS)), namespaces: opt(some(NAMESPACES)), notNamespaces: opt(some(NAMESPACES)), ipBlocks: opt(some(BLOCKS)), notRemoteIpBlocks: opt(some(BLOCKS)) })
  .map((o) => compact<AuthzSource>(o));
const operation: fc.Arbitrary<AuthzOperation> = fc
  .record({ ports: opt(some(PORTS)), notPorts: opt(some(PORTS)), methods: opt(some(METHODS)), notMethods: opt(some(METHODS)), paths: opt(some(PATHS)), notPaths: opt(some(PATHS)), hosts: opt(some(HOSTS)) })
  .map((o) => compact<AuthzOperation>(o));
const condition: fc.Arbitrary<AuthzCondition> = fc.oneof(
  fc.record({ key: fc.constant('request.headers[x-a]' as const), values: some(['1', '2*', '*']) }),
  fc.record({ key: fc.constant('source.ip' as const), notValues: some(BLOCKS) }),
  fc.record({ key: fc.constant('destination.port' as const), values: some(PORTS) }),
  fc.record({ key: fc.constant('connection.sni' as const), values: some(['a.example', '*']) }),
);
const rule: fc.Arbitrary<AuthzRule> = fc
  .record({
    from: opt(fc.array(source.map((s) => ({ source: s })), { minLength: 1, maxLength: 2 })),
    to: opt(fc.array(operation.map((o) => ({ operation: o })), { minLength: 1, maxLength: 2 })),
    when: opt(fc.array(condition, { minLength: 1, maxLength: 2 })),
  })
  .map((o) => compact<AuthzRule>(o));
const policies: fc.Arbitrary<AuthorizationPolicyData[]> = fc
  .array(fc.tuple(fc.constantFrom('ALLOW', 'DENY', 'AUDIT' as const), fc.array(rule, { maxLength: 3 })), { maxLength: 4 })
  .map((list) => list.map(([action, rules], i) => policy(`p${i}`, action as 'ALLOW' | 'DENY' | 'AUDIT', rules, { creationTimestamp: i })));
const traffic: fc.Arbitrary<AuthzAttributes> = fc
  .record({
    sourcePrincipal: opt(fc.constantFrom(...IDS)),
    sourceIp: opt(fc.constantFrom(...ADDRESSES)),
    remoteIp: opt(fc.constantFrom(...ADDRESSES)),
    destinationIp: fc.constant('10.0.0.2'),
    destinationPort: fc.constantFrom(80, 8080),
    sni: opt(fc.constantFrom('a.example', 'b.example')),
    request: opt(
      fc.record({
        method: fc.constantFrom('GET', 'POST'),
        path: fc.constantFrom(...REQ_PATHS),
        host: fc.constantFrom(...REQ_HOSTS),
        headers: fc.constantFrom({}, { 'x-a': '1' }, { 'x-a': ['2', '3'] }, { 'x-a': '' }),
      }),
    ),
  })
  .map((o) => compact<AuthzAttributes>(o));

t.test('explain() gives evaluate()\'s verdict on generated policies and traffic', async (t) => {
  const modes: readonly AuthzMode[] = ['request', 'connection-http', 'connection-opaque'];
  const seen = { allowed: 0, denied: 0, deferred: 0, audited: 0 };
  let runs = 0;
  fc.assert(
    fc.property(policies, traffic, fc.constantFrom(...modes), (ps, a, mode) => {
      const w = authz(ps);
      const v = w.evaluate(a, mode);
      const e = w.explain(a, mode);
      runs++;
      if (v.allowed) seen.allowed++;
      else seen.denied++;
      if (v.deferred === true) seen.deferred++;
      if (v.audits.length > 0) seen.audited++;
      t.same(e.verdict, v, `${mode} ${JSON.stringify(ps)} ${JSON.stringify(a)}`, { diagnostic: false });
      return JSON.stringify(e.verdict) === JSON.stringify(v);
    }),
    { seed: 20261206, numRuns: 4000 },
  );
  t.equal(runs, 4000);
  t.ok(seen.allowed > 100, `allowed cases: ${seen.allowed}`);
  t.ok(seen.denied > 100, `denied cases: ${seen.denied}`);
  t.ok(seen.deferred > 50, `deferred cases: ${seen.deferred}`);
  t.ok(seen.audited > 50, `audited cases: ${seen.audited}`);
});
