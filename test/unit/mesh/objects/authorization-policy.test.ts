/**
 * AuthorizationPolicy objects: Istio's examples read as they are under every apiVersion, each
 * supported field converted to the model's plain data, and each refused field (unsupported by
 * meshlet, or refused by Istio itself) reported with the file, line, object and field path.
 */
import t from 'tap';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { authorizationPolicyDataProblems } from '../../../../src/mesh/objects/authorization-policy.js';
import { objectsFromValue, parseObjects } from '../../../../src/mesh/objects/parse.js';
import type { AuthorizationPolicyData } from '../../../../src/mesh/authz/types.js';
import type { AuthorizationPolicyObject } from '../../../../src/mesh/types.js';
import { thrown } from '../fixture.js';

const HEAD = (apiVersion = 'security.istio.io/v1'): string => `apiVersion: ${apiVersion}
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: demo
`;

/** A policy document with `spec` (indented YAML lines after `spec:`). */
const POLICY = (spec: string, apiVersion?: string): string => `${HEAD(apiVersion)}spec:\n${spec}`;

/** The policy parsed from `text`; every policy the parser accepts must pass the wire check too. */
function policyOf(text: string): AuthorizationPolicyData {
  const objects = parseObjects(text, 'authz.yaml');
  const object = objects[0] as AuthorizationPolicyObject;
  const wire = authorizationPolicyDataProblems(JSON.parse(JSON.stringify(object.policy)) as AuthorizationPolicyData);
  if (wire.length > 0) throw new Error(`accepted by the parser, refused as data: ${wire.join('; ')}`);
  return object.policy;
}

function problems(text: string): string[] {
  const err = thrown(() => parseObjects(text, 'authz.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

t.test("Istio's allow-read example, under each apiVersion", async (t) => {
  const spec = `  selector:
    matchLabels:
      app: products
  action: ALLOW
  rules:
  - to:
    - operation:
         methods: ["GET", "HEAD"]
`;
  for (const apiVersion of ['security.istio.io/v1', 'security.istio.io/v1beta1', 'meshlet.io/v1alpha1'] as const) {
    const objects = parseObjects(POLICY(spec, apiVersion), 'authz.yaml');
    t.equal(objects.length, 1, apiVersion);
    const object = objects[0] as AuthorizationPolicyObject;
    t.equal(object.kind, 'AuthorizationPolicy', apiVersion);
    t.equal(object.namespace, 'demo', apiVersion);
    t.equal(object.name, 'p', apiVersion);
    t.same(object.policy, {
      key: 'demo/p',
      namespace: 'demo',
      name: 'p',
      apiVersion,
      action: 'ALLOW',
      selector: { app: 'products' },
      rules: [{ to: [{ operation: { methods: ['GET', 'HEAD'] } }] }],
      creationTimestamp: 0,
    }, apiVersion);
  }
});

t.test("Istio's httpbin example: from, to, several sources and operations", async (t) => {
  const p = policyOf(POLICY(`  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
    - source:
        namespaces: ["test"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/info*"]
    - operation:
        methods: ["POST"]
        paths: ["/data"]
    when:
    - key: request.headers[X-Version]
      values: ["v1", "v2*"]
`));
  t.same(p.rules, [{
    from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }, { source: { namespaces: ['test'] } }],
    to: [{ operation: { methods: ['GET'], paths: ['/info*'] } }, { operation: { methods: ['POST'], paths: ['/data'] } }],
    when: [{ key: 'request.headers[x-version]', values: ['v1', 'v2*'] }],
  }]);
  t.equal(p.selector, undefined, 'no selector: the namespace');
  t.equal(p.targetServices, undefined);
});

t.test("Istio's deny-method-get and DENY on a port", async (t) => {
  const deny = policyOf(POLICY(`  selector:
    matchLabels:
      app: httpbin
      version: v1
  action: DENY
  rules:
  - from:
    - source:
        notNamespaces: ["foo"]
    to:
    - operation:
        methods: ["GET"]
        notPaths: ["/ip"]
`, 'security.istio.io/v1beta1'));
  t.equal(deny.action, 'DENY');
  t.equal(deny.apiVersion, 'security.istio.io/v1beta1');
  t.same(deny.selector, { app: 'httpbin', version: 'v1' });
  t.same(deny.rules, [{ from: [{ source: { notNamespaces: ['foo'] } }], to: [{ operation: { methods: ['GET'], notPaths: ['/ip'] } }] }]);
  const port = policyOf(POLICY(`  action: DENY
  rules:
  - to:
    - operation:
        methods: ["POST"]
        ports: ["8080"]
`));
  t.same(port.rules, [{ to: [{ operation: { methods: ['POST'], ports: ['8080'] } }] }]);
});

t.test('AUDIT, and every field of source and operation', async (t) => {
  const p = policyOf(POLICY(`  action: AUDIT
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/demo/sa/web", "*/ns/demo/sa/api", "cluster.local/ns/ops/*", "*"]
        notPrincipals: ["cluster.local/ns/demo/sa/blocked"]
        namespaces: ["demo", "prod-*", "*-test"]
        notNamespaces: ["kube-system"]
        ipBlocks: ["10.0.0.0/8", "203.0.113.4", "fd00::/8", "2001:db8::1"]
        notIpBlocks: ["10.1.0.0/16"]
        remoteIpBlocks: ["198.51.100.0/24"]
        notRemoteIpBlocks: ["198.51.100.7/32"]
    to:
    - operation:
        hosts: ["web.demo.svc.cluster.local", "*.example.com", "web:8080", "api.*"]
        notHosts: ["admin.example.com"]
        ports: ["8080", 9090, "00443"]
        notPorts: [15000]
        methods: ["GET", "get", "PO*", "*"]
        notMethods: ["DELETE"]
        paths: ["/user/profile/*", "*.html", "*", "/", "/foo/{*}", "/foo/{**}", "/a/{*}/b/{**}", "/v1/{**}/"]
        notPaths: ["/admin"]
`));
  const rule = p.rules[0];
  t.equal(p.action, 'AUDIT');
  t.same(rule?.from?.[0]?.source, {
    principals: ['cluster.local/ns/demo/sa/web', '*/ns/demo/sa/api', 'cluster.local/ns/ops/*', '*'],
    notPrincipals: ['cluster.local/ns/demo/sa/blocked'],
    namespaces: ['demo', 'prod-*', '*-test'],
    notNamespaces: ['kube-system'],
    ipBlocks: ['10.0.0.0/8', '203.0.113.4', 'fd00::/8', '2001:db8::1'],
    notIpBlocks: ['10.1.0.0/16'],
    remoteIpBlocks: ['198.51.100.0/24'],
    notRemoteIpBlocks: ['198.51.100.7/32'],
  });
  t.same(rule?.to?.[0]?.operation, {
    hosts: ['web.demo.svc.cluster.local', '*.example.com', 'web:8080', 'api.*'],
    notHosts: ['admin.example.com'],
    ports: ['8080', '9090', '443'],
    notPorts: ['15000'],
    methods: ['GET', 'get', 'PO*', '*'],
    notMethods: ['DELETE'],
    paths: ['/user/profile/*', '*.html', '*', '/', '/foo/{*}', '/foo/{**}', '/a/{*}/b/{**}', '/v1/{**}/'],
    notPaths: ['/admin'],
  }, 'ports are stored as canonical decimal strings');
});

t.test('every supported condition key', async (t) => {
  const p = policyOf(POLICY(`  rules:
  - when:
    - key: source.principal
      values: ["cluster.local/ns/demo/sa/web"]
    - key: source.namespace
      notValues: ["dev"]
    - key: source.ip
      values: ["10.1.2.3", "10.2.0.0/16"]
    - key: remote.ip
      values: ["192.0.2.0/24"]
      notValues: ["192.0.2.1"]
    - key: destination.ip
      values: ["fd00::1"]
    - key: destination.port
      values: ["80", 443]
    - key: connection.sni
      values: ["www.example.com", "*.example.org"]
    - key: request.headers[User-Agent]
      values: ["Mozilla/*"]
`));
  t.same(p.rules[0]?.when, [
    { key: 'source.principal', values: ['cluster.local/ns/demo/sa/web'] },
    { key: 'source.namespace', notValues: ['dev'] },
    { key: 'source.ip', values: ['10.1.2.3', '10.2.0.0/16'] },
    { key: 'remote.ip', values: ['192.0.2.0/24'], notValues: ['192.0.2.1'] },
    { key: 'destination.ip', values: ['fd00::1'] },
    { key: 'destination.port', values: ['80', '443'] },
    { key: 'connection.sni', values: ['www.example.com', '*.example.org'] },
    { key: 'request.headers[user-agent]', values: ['Mozilla/*'] },
  ]);
});

t.test('the empty policies: allow-nothing, allow-all, no spec', async (t) => {
  const nothing = policyOf(POLICY('  {}\n'));
  t.same(nothing.rules, [], 'spec: {} has no rules: it allows nothing');
  t.equal(nothing.action, 'ALLOW');
  const all = policyOf(POLICY('  rules:\n  - {}\n'));
  t.same(all.rules, [{}], 'rules: [{}] is one rule matching every request');
  const noSpec = policyOf(HEAD());
  t.same(noSpec.rules, [], 'no spec reads as spec: {}');
  const nulls = policyOf(POLICY('  selector: null\n  rules: null\n  action: null\n'));
  t.same(nulls.rules, []);
  t.equal(nulls.action, 'ALLOW');
  const audit = policyOf(POLICY('  action: AUDIT\n'));
  t.same(audit.rules, [], 'AUDIT without rules is accepted (Istio accepts it)');
});

t.test('an empty selector is the whole namespace', async (t) => {
  for (const selector of ['  selector: {}\n', '  selector: {matchLabels: {}}\n', '  selector: {matchLabels: null}\n']) {
    const p = policyOf(POLICY(`${selector}  rules: [{}]\n`));
    t.equal(p.selector, undefined, selector);
    t.equal('selector' in p, false, `${selector}: no key`);
  }
});

t.test('targetRefs and targetRef name Services of the namespace', async (t) => {
  const p = policyOf(POLICY(`  targetRefs:
  - kind: Service
    group: ""
    name: web
  - {kind: Service, group: core, name: api, namespace: demo}
  - {kind: Service, name: web}
  rules: [{}]
`));
  t.same(p.targetServices, ['web', 'api'], 'deduplicated, in order');
  const single = policyOf(POLICY('  targetRef: {kind: Service, group: "", name: db}\n  rules: [{}]\n'));
  t.same(single.targetServices, ['db']);
  const empty = policyOf(POLICY('  targetRefs: []\n  rules: [{}]\n'));
  t.equal(empty.targetServices, undefined, 'an empty list is no target (Istio reads it so)');
});

t.test('metadata: creation time, labels, status tolerated, default namespace', async (t) => {
  const [object] = parseObjects(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: demo
  labels: {team: a}
  creationTimestamp: "2024-05-01T12:00:00Z"
  annotations: {istio.io/dry-run: "false"}
spec: {}
status:
  validationMessages: []
`, 'authz.yaml') as AuthorizationPolicyObject[];
  t.equal(object?.policy.creationTimestamp, Date.parse('2024-05-01T12:00:00Z'));
  t.same(object?.labels, { team: 'a' });
  const noNamespace = parseObjects('apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {}\n', 'a.yaml');
  t.equal((noNamespace[0] as AuthorizationPolicyObject).policy.key, 'default/p');
});

t.test('objects from the Kubernetes API (decoded values)', async (t) => {
  const { objects, problems: found } = objectsFromValue({
    apiVersion: 'security.istio.io/v1beta1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'k', namespace: 'demo' },
    spec: { rules: [{ to: [{ operation: { ports: ['8080'] } }] }] },
  }, { file: 'kubernetes', doc: 0 });
  t.same(found, []);
  t.same((objects[0] as AuthorizationPolicyObject).policy.rules, [{ to: [{ operation: { ports: ['8080'] } }] }]);
  const bad = objectsFromValue({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'k', namespace: 'demo' },
    spec: { rules: [{ from: [{ source: { principals: ['spiffe://cluster.local/ns/a/sa/b'] } }] }] },
  }, { file: 'kubernetes', doc: 0 });
  t.same(bad.objects, []);
  t.match(bad.problems[0]?.text, /^kubernetes \(document 1\): AuthorizationPolicy demo\/k: spec\.rules\[0\]\.from\[0\]\.source\.principals\[0\]: drop the "spiffe:\/\/" prefix/);
});

t.test('the line of a problem is the line of its field', async (t) => {
  const lines = problems(POLICY(`  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/demo/sa/web
        - spiffe://cluster.local/ns/demo/sa/api
`));
  t.equal(lines.length, 1);
  t.match(lines[0], /^authz\.yaml:12 \(document 1\): AuthorizationPolicy demo\/p: spec\.rules\[0\]\.from\[0\]\.source\.principals\[1\]: /);
});
